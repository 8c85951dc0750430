"""``MLflowSink``: one MLflow run and one MLflow trace per workflow run, logged off the run's path.

By default MLflow writes to a local SQLite tracking store under the data directory
(``sqlite:///<data_dir>/mlflow.db``, the backend MLflow recommends now that the file store is
legacy), artifacts beside it; any tracking URI can be set instead. Each run gets:

- params ``workflow``, ``workflow_hash`` (the config hash), ``models``, ``providers``;
- metrics ``cost_usd``, ``total_tokens``, ``duration_ms``, ``node_<id>_duration_ms``,
  ``node_<id>_cost_usd``, ``provider_<name>_cost_usd``;
- the workflow YAML as the artifact ``workflow.yaml``;
- a trace (linked to the run) with a span per node execution and, inside it, a span per LLM
  call carrying the prompt, the reply and the token usage.

An evaluation (:meth:`MLflowSink.log_evaluation`) becomes a parent run (its totals, settings,
the YAML and its config as artifacts) with a nested run per variant (the variant's overrides as
params, its summary as metrics); the runs of its rows that this sink logged are nested under
their variant's run.

A background thread turns each finished run into a redacted, bounded record and hands it to a
child process (:mod:`._mlflow_worker`) that makes the MLflow calls. MLflow's tracing exports
to the process-wide tracking URI through a process-wide tracer (MLflow 3 has no client-bound
tracing), so MLflow is never imported in this process: a user's own ``mlflow`` calls keep
their tracking URI, experiment and environment. If MLflow is missing, misconfigured or slow,
the run is unaffected and one warning says why. MLflow's own usage telemetry is switched off
(``MLFLOW_DISABLE_TELEMETRY``) unless the user set it.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..engine.events import NodeFailed, NodeFinished, RunFinished, RunStarted
from .._secrets import Redactor, jsonable, mask_url
from ._worker import BackgroundWriter

if TYPE_CHECKING:
    from .._settings import Settings

EXPERIMENT = "agents_magic"
MAX_TEXT = 20_000
PARAM_LIMIT = 500
MAX_FAILURES = 3
INSTALL_HINT = "needs `pip install 'agents_magic[mlflow]'`"
_RECORDED = (RunStarted, NodeFinished, NodeFailed, RunFinished)
_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-/ ]")


def default_tracking_uri(settings: Settings) -> str:
    return f"sqlite:///{Path(settings.data_dir).expanduser() / 'mlflow.db'}"


def resolved_tracking_uri(settings: Settings) -> str:
    """``settings.mlflow_tracking_uri`` or the local SQLite store under the data directory."""
    return settings.mlflow_tracking_uri or default_tracking_uri(settings)


def _artifact_root(settings: Settings) -> Path:
    return Path(settings.data_dir).expanduser() / "mlflow-artifacts"


def _ui_available() -> bool:
    """Whether this environment can serve the MLflow UI (``mlflow-skinny`` cannot)."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        return False
    root = Path(list(spec.submodule_search_locations)[0])
    return ((root / "server" / "js" / "build" / "index.html").exists()
            and importlib.util.find_spec("flask") is not None)


def _mlflow_version() -> str | None:
    from importlib import metadata

    for dist in ("mlflow", "mlflow-skinny"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def mlflow_ui_command(settings: Settings | None = None, *, port: int = 5000) -> str:
    """The shell command that opens the MLflow UI on this session's tracking store.

    With only ``mlflow-skinny`` installed (it has no UI), the command installs the matching
    full ``mlflow`` first.
    """
    from .._settings import resolve

    settings = resolve(settings)
    uri = resolved_tracking_uri(settings)
    if urlsplit(uri).scheme in ("http", "https"):
        return shlex.join(["python", "-m", "webbrowser", "-t", uri])
    parts = ["mlflow", "ui", "--backend-store-uri", uri]
    if not settings.mlflow_tracking_uri:
        parts += ["--default-artifact-root", _artifact_root(settings).as_uri()]
    parts += ["--host", "127.0.0.1", "--port", str(port)]
    command = shlex.join(parts)
    if not _ui_available():
        version = _mlflow_version()
        requirement = f"mlflow=={version}" if version else "mlflow"
        command = f"{shlex.join(['pip', 'install', requirement])} && {command}"
    return command


def _llm_cost(node: NodeFinished) -> dict[str, float]:
    """MLflow's cost attribute from our own prices (so MLflow never asks LiteLLM)."""
    from ..engine import _cost

    info = {} if node.provider in _cost.FREE_PROVIDERS else (
        _cost.model_info(node.provider, node.model) or {})
    input_cost = node.prompt_tokens * float(info.get("input_cost_per_token") or 0.0)
    output_cost = node.completion_tokens * float(info.get("output_cost_per_token") or 0.0)
    if node.cost_usd == 0.0:
        input_cost = output_cost = 0.0  # free provider, cached call, or no known price
    elif abs(input_cost + output_cost - node.cost_usd) > 1e-12:
        input_cost, output_cost = node.cost_usd, 0.0  # the split is unknown; keep the total
    return {"input_cost": input_cost, "output_cost": output_cost, "total_cost": node.cost_usd}


def _metric_name(text: str) -> str:
    return _METRIC_UNSAFE.sub("_", text)[:200]


@dataclass(frozen=True)
class MLflowOptions:
    """Where runs are logged: the session settings under the workflow's
    ``config.observability.mlflow`` (``enabled``, ``tracking_uri``, ``experiment_name``)."""

    enabled: bool
    tracking_uri: str
    experiment: str = EXPERIMENT


def mlflow_options(settings: Settings, observability: Any = None) -> MLflowOptions:
    """The MLflow options of a run: the workflow's ``observability.mlflow`` section (a mapping,
    or a model holding one) wins over the session settings."""
    section = observability
    if section is not None and not isinstance(section, Mapping):
        section = {**(getattr(section, "model_extra", None) or {}),
                   **{k: getattr(section, k) for k in getattr(section, "model_fields_set", ())}}
    section = (section or {}).get("mlflow") or {}
    if not isinstance(section, Mapping):
        section = {"enabled": section}
    problems = [f"`config.observability.mlflow.{key}` must be {kind}"
                for key, kind, ok in (("enabled", "true or false", (bool,)),
                                      ("tracking_uri", "a URI", (str,)),
                                      ("experiment_name", "a name", (str,)))
                if section.get(key) is not None and not isinstance(section[key], ok)]
    if problems:
        from ..errors import ConfigError, Problem

        raise ConfigError([Problem(p, path="config.observability.mlflow") for p in problems])
    enabled = section.get("enabled")
    return MLflowOptions(
        enabled=settings.mlflow if enabled is None else enabled,
        tracking_uri=section.get("tracking_uri") or resolved_tracking_uri(settings),
        experiment=section.get("experiment_name") or EXPERIMENT)


def run_record(start: RunStarted, nodes: list[Any], finish: RunFinished,
               redact: Redactor, max_text: int) -> dict[str, Any]:
    """What the MLflow worker logs of one run, as plain JSON: redacted and bounded here."""
    from ._store import workflow_hash

    def text(value: str | None) -> str:
        return redact.clip(value or "", max_text)

    def data(value: Any) -> Any:
        return jsonable(value, redact, max_text)

    finished = [n for n in nodes if isinstance(n, NodeFinished)]
    params = {"workflow": start.workflow, "workflow_hash": workflow_hash(start.yaml or ""),
              "models": ",".join(sorted({f"{n.provider}/{n.model}" for n in nodes if n.model})),
              "providers": ",".join(sorted({n.provider for n in nodes if n.provider})),
              "run_id": start.run_id}
    metrics: dict[str, float] = {"cost_usd": finish.cost_usd,
                                 "total_tokens": float(finish.total_tokens),
                                 "duration_ms": finish.duration_ms,
                                 "node_executions": float(len(nodes)),
                                 "cached_calls": float(sum(1 for n in finished if n.cached))}
    rows = []
    for node in sorted(nodes, key=lambda n: n.started_at):
        cost = float(node.cost_usd or 0.0)
        key = _metric_name(f"node_{node.node_id}")
        metrics[f"{key}_duration_ms"] = metrics.get(f"{key}_duration_ms", 0.0) + node.duration_ms
        metrics[f"{key}_cost_usd"] = metrics.get(f"{key}_cost_usd", 0.0) + cost
        if node.provider:
            pkey = _metric_name(f"provider_{node.provider}_cost_usd")
            metrics[pkey] = metrics.get(pkey, 0.0) + cost
        ok = isinstance(node, NodeFinished)
        rows.append({
            "node_id": node.node_id, "iteration": node.iteration, "item": node.item,
            "attempts": node.attempts,
            "duration_ms": node.duration_ms, "provider": node.provider, "model": node.model,
            "started_at": node.started_at, "finished_at": node.at, "cost_usd": cost,
            "cached": bool(getattr(node, "cached", False)),
            "prompt_tokens": int(getattr(node, "prompt_tokens", 0) or 0),
            "completion_tokens": int(getattr(node, "completion_tokens", 0) or 0),
            "prompt": text(node.prompt) if ok else None,
            "response": text(node.response) if ok else None,
            "outputs": data(node.outputs) if ok else None,
            "llm_cost": _llm_cost(node) if ok else None,
            "error": None if ok else text(node.error), "kind": None if ok else node.kind})
    return {"run_id": start.run_id, "workflow": start.workflow, "status": finish.status,
            "started_at": start.at, "finished_at": finish.at, "yaml": redact(start.yaml or ""),
            "inputs": data(dict(start.inputs)), "outputs": data(dict(finish.outputs)),
            "error": text(finish.error) if finish.error else None,
            "params": {k: redact.clip(str(v), PARAM_LIMIT - 40) for k, v in params.items()},
            "metrics": metrics, "nodes": rows}


@dataclass(frozen=True)
class _Evaluation:
    """An evaluation waiting on the writer thread (after the runs queued before it)."""

    record: Mapping[str, Any]
    summary: Mapping[str, Mapping[str, Any]]


def _seconds(iso: str | None) -> float:
    return dt.datetime.fromisoformat(iso).timestamp() if iso else time.time()


def _flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"config": {"llm": {"model": m}}}`` as ``{"config.llm.model": m}``."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping) and item:
            out.update(_flat(item, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = item
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def evaluation_record(record: Mapping[str, Any], summary: Mapping[str, Mapping[str, Any]],
                      redact: Redactor, max_text: int) -> dict[str, Any]:
    """What the MLflow worker logs of one evaluation (an ``EvalResult.to_record()`` dict and
    its summary ``{variant: {metric: value}}``), as plain JSON: redacted and bounded here."""
    config = record.get("config") or {}
    overrides = config.get("variants") or {}
    rows = record.get("rows") or []
    names = list(dict.fromkeys([*overrides, *summary, *(row["variant"] for row in rows)]))

    def params(values: Mapping[str, Any]) -> dict[str, str]:
        return {_metric_name(str(k)): redact.clip(v if isinstance(v, str) else json.dumps(v),
                                                  PARAM_LIMIT - 40)
                for k, v in values.items() if v is not None}

    variants = [{
        "name": name,
        "params": params({"variant": name, **_flat(overrides.get(name) or {})}),
        "metrics": {_metric_name(str(k)): float(v) for k, v in (summary.get(name) or {}).items()
                    if _finite(v)},
        "run_ids": [row["run_id"] for row in rows if row["variant"] == name and row["run_id"]],
    } for name in names]
    totals = {"rows": float(len(rows)),
              "failed_rows": float(sum(row["status"] != "succeeded" for row in rows)),
              "cost_usd": sum(float(row["cost_usd"] or 0.0) for row in rows),
              "judge_cost_usd": sum(float(row["judge_cost_usd"] or 0.0) for row in rows),
              "total_tokens": float(sum(int(row["tokens"] or 0) for row in rows))}
    return {
        "id": record["id"], "name": record["name"], "workflow": record["workflow"],
        "status": record["status"], "started_at": _seconds(record["started_at"]),
        "finished_at": _seconds(record["finished_at"]),
        "yaml": redact(record.get("workflow_yaml") or ""),
        "config": jsonable(dict(config), redact, max_text),
        "params": params({"evaluation": record["name"], "workflow": record["workflow"],
                          "evaluation_id": record["id"], "variants": ",".join(names),
                          "metrics": ",".join(config.get("metrics") or []),
                          "repeats": config.get("repeats"),
                          "primary_metric": config.get("primary_metric"),
                          "on_fail": config.get("on_fail")}),
        "metrics": totals, "variants": variants}


class _Worker:
    """The child process that does the MLflow calls (:mod:`._mlflow_worker`), started on first
    use and again after it died; its stdin closing (this process exiting) ends it."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._process is None or self._process.poll() is not None:
            self.close(0)
            self._start()
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            reply = process.stdout.readline()
        except OSError:
            reply = ""
        if not reply:
            code = process.wait()
            raise RuntimeError(f"the MLflow logging process exited (code {code})")
        return dict(json.loads(reply))

    def _start(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false",
               "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        # MLflow's usage telemetry is off unless the user decided; should MLflow import
        # LiteLLM, it must not fetch its price map over the network.
        env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        env.setdefault("LITELLM_TELEMETRY", "False")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "agents_magic.sinks._mlflow_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
            encoding="utf-8")

    def close(self, timeout: float | None) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


class MLflowSink:
    """Log every run it sees to MLflow (see the module docstring for what is logged).

    Parameters
    ----------
    tracking_uri
        Default: the session's ``mlflow_tracking_uri`` setting, else
        ``sqlite:///<data_dir>/mlflow.db``.
    experiment
        MLflow experiment name (created when missing).
    settings
        Session settings (default: the current ones) for the data directory.
    """

    def __init__(self, tracking_uri: str | None = None, *, experiment: str = EXPERIMENT,
                 settings: Settings | None = None, max_text: int = MAX_TEXT) -> None:
        from .._settings import resolve

        settings = resolve(settings)
        self.tracking_uri = tracking_uri or resolved_tracking_uri(settings)
        self.experiment = experiment
        self.max_text = max_text
        self.artifact_location: str | None = None
        if self.tracking_uri == default_tracking_uri(settings):
            self.artifact_location = _artifact_root(settings).as_uri()
        self.redact = Redactor()
        self.logged = 0
        self.problem: str | None = None
        self._failures = 0
        self._runs: dict[str, dict[str, Any]] = {}
        #: Evaluation id → its parent MLflow run id, for the evaluations logged so far.
        self.evaluations: dict[str, str] = {}
        self._worker = _Worker()
        self._writer: BackgroundWriter | None = None
        if importlib.util.find_spec("mlflow") is None:
            self._give_up(f"`mlflow` is not installed; MLflow logging {INSTALL_HINT}", stacklevel=3)
            return
        self._writer = BackgroundWriter("agents-magic-mlflow", self._write, self._crashed)

    # -- engine side ------------------------------------------------------------------------
    def __call__(self, event: Any) -> None:
        if self._writer is not None and isinstance(event, _RECORDED):
            self._writer.put(event)

    def log_evaluation(self, record: Mapping[str, Any],
                       summary: Mapping[str, Mapping[str, Any]]) -> None:
        """Queue an evaluation (an ``EvalResult.to_record()`` dict and its summary
        ``{variant: {metric: value}}``) for MLflow; it is logged after the runs queued before
        it, so the runs of its rows nest under its variants. :attr:`evaluations` then maps its
        id to the MLflow parent run."""
        if self._writer is not None:
            self._writer.put(_Evaluation(record, summary))

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until every finished run received so far is logged (traces included)."""
        # Traces are exported synchronously on the writer thread, so a drained queue means
        # everything is in the tracking store.
        return True if self._writer is None else self._writer.flush(timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        if self._writer is not None:
            self.flush(timeout)
            self._writer.close(timeout)
        self._worker.close(timeout)

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def __repr__(self) -> str:
        return f"<MLflowSink {mask_url(self.tracking_uri)!r} experiment={self.experiment!r}>"

    # -- failures: one warning, and give up after repeated failures ------------------------
    def _give_up(self, reason: str, stacklevel: int = 2) -> None:
        if self.problem is None:
            self.problem = reason
            warnings.warn(f"agents_magic: MLflow logging is off: {reason}. Runs are not "
                          "affected.", RuntimeWarning, stacklevel=stacklevel + 1)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop_soon()

    def _crashed(self, exc: BaseException) -> None:
        self._give_up(f"{type(exc).__name__}: {exc}")

    def _failed(self, message: str) -> None:
        self._failures += 1
        message = self.redact(message.splitlines()[0] if message else "")
        if self.problem is None:
            self.problem = message
            warnings.warn(f"agents_magic: a run could not be logged to MLflow at "
                          f"{mask_url(self.tracking_uri)}: {message}. Runs are not affected.",
                          RuntimeWarning, stacklevel=2)
        if self._failures >= MAX_FAILURES:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.stop_soon()
            self._worker.close(0)

    # -- writer thread ----------------------------------------------------------------------
    def _write(self, batch: list[Any]) -> None:
        finished = []
        queued_evaluations = []
        for event in batch:
            # Events delivered twice (the same sink listed twice) are logged once.
            if isinstance(event, _Evaluation):
                queued_evaluations.append(event)
            elif isinstance(event, RunStarted):
                self._runs.setdefault(event.run_id, {"start": event, "nodes": {}})
            elif isinstance(event, RunFinished):
                record = self._runs.pop(event.run_id, None)
                if record is not None:
                    finished.append((record["start"], list(record["nodes"].values()), event))
            elif event.run_id in self._runs:
                self._runs[event.run_id]["nodes"].setdefault((event.node_id, event.iteration),
                                                             event)
        if not finished and not queued_evaluations:
            return
        records = []
        for start, nodes, finish in finished:
            self.redact.refresh(start.yaml)
            records.append(run_record(start, nodes, finish, self.redact, self.max_text))
        evaluations = []
        for item in queued_evaluations:
            self.redact.refresh(item.record.get("workflow_yaml") or "")
            try:
                evaluations.append(evaluation_record(item.record, item.summary, self.redact,
                                                     self.max_text))
            except Exception as exc:
                self._failed(f"evaluation {item.record.get('id')!r} cannot be logged: "
                             f"{type(exc).__name__}: {exc}")
        try:
            reply = self._worker.call({"tracking_uri": self.tracking_uri,
                                       "experiment": self.experiment,
                                       "artifact_location": self.artifact_location,
                                       "runs": records, "evaluations": evaluations})
        except Exception as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return
        if reply.get("import_error"):
            self._give_up(f"MLflow cannot be imported ({reply['error']}); it {INSTALL_HINT}")
            return
        if "error" in reply:
            self._failed(reply["error"])
            return
        for error in reply["results"]:
            if error is None:
                self.logged += 1
                self._failures = 0
            else:
                self._failed(error)
                if self._writer is None:
                    return
        for result in reply.get("evaluations", []):
            if "error" in result:
                self._failed(result["error"])
                if self._writer is None:
                    return
            else:
                self.evaluations[result["id"]] = result["run_id"]
                self._failures = 0
