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

Everything happens on one background thread once the run has finished. If MLflow is missing,
misconfigured or slow, the run is unaffected and one warning says why. MLflow's own usage
telemetry is switched off (``MLFLOW_DISABLE_TELEMETRY``) unless the user set it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import socket
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..engine.events import NodeFailed, NodeFinished, RunFinished, RunStarted
from ._redact import Redactor, jsonable, mask_url, truncate
from ._worker import BackgroundWriter

if TYPE_CHECKING:
    from .._settings import Settings

EXPERIMENT = "agents_magic"
MAX_TEXT = 20_000
PARAM_LIMIT = 500
MAX_FAILURES = 3
INSTALL_HINT = "needs `pip install 'agents_magic[mlflow]'`"
_RECORDED = (RunStarted, NodeFinished, NodeFailed, RunFinished)
_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED",
           "budget_exceeded": "FAILED"}
_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-/ ]")
# The tracing API exports to the *global* tracking URI; we point it at ours for the few
# milliseconds a trace takes, under this lock, and put the user's back.
_tracing_lock = threading.Lock()
ASYNC_ENV = "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"
_mlflow_ready = False


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
    if settings is None:
        from .. import _settings

        settings = _settings.settings
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


def _import_mlflow() -> Any:
    """Import MLflow quietly: telemetry off (unless the user decided), no notebook trace display
    (we log from a thread, after the cell), no INFO chatter while it creates its tables."""
    global _mlflow_ready
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # MLflow prices LLM spans with LiteLLM when a span carries no cost; we always give one,
    # but should LiteLLM get imported anyway it must not fetch its price map over the network.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import logging

    import mlflow

    if not _mlflow_ready:
        for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            mlflow.tracing.disable_notebook_display()  # type: ignore[no-untyped-call]
        except Exception:
            pass
        _mlflow_ready = True
    return mlflow


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


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
        if settings is None:
            from .. import _settings

            settings = _settings.settings
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
        self._client: Any = None
        self._experiment_id: str | None = None
        self._writer: BackgroundWriter | None = None
        if importlib.util.find_spec("mlflow") is None:
            self._give_up(f"`mlflow` is not installed; MLflow logging {INSTALL_HINT}", stacklevel=3)
            return
        self._writer = BackgroundWriter("agents-magic-mlflow", self._write, self._crashed)

    # -- engine side ------------------------------------------------------------------------
    def __call__(self, event: Any) -> None:
        if self._writer is not None and isinstance(event, _RECORDED):
            self._writer.put(event)

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until every finished run received so far is logged (traces included)."""
        # Traces are exported synchronously on the writer thread, so a drained queue means
        # everything is in the tracking store.
        return True if self._writer is None else self._writer.flush(timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        if self._writer is not None:
            self.flush(timeout)
            self._writer.close(timeout)

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

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if self.problem is None:
            self.problem = message
            warnings.warn(f"agents_magic: a run could not be logged to MLflow at "
                          f"{mask_url(self.tracking_uri)}: {message}. Runs are not affected.",
                          RuntimeWarning, stacklevel=2)
        if self._failures >= MAX_FAILURES:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.stop_soon()

    # -- writer thread ----------------------------------------------------------------------
    def _write(self, batch: list[Any]) -> None:
        finished = []
        for event in batch:
            # Events delivered twice (the same sink listed twice) are logged once.
            if isinstance(event, RunStarted):
                self._runs.setdefault(event.run_id, {"start": event, "nodes": {}})
            elif isinstance(event, RunFinished):
                record = self._runs.pop(event.run_id, None)
                if record is not None:
                    finished.append((record["start"], list(record["nodes"].values()), event))
            elif event.run_id in self._runs:
                self._runs[event.run_id]["nodes"].setdefault((event.node_id, event.iteration),
                                                             event)
        if not finished:
            return
        try:
            self._connect()
        except ImportError as exc:
            self._give_up(f"MLflow cannot be imported ({exc}); it {INSTALL_HINT}")
            return
        except Exception as exc:
            self._failed(exc)
            return
        mlflow = _import_mlflow()
        # One switch of MLflow's global tracking URI per batch, not per run.
        with _tracing_lock, _TrackingUriSwitch(mlflow, self.tracking_uri):
            for start, nodes, finish in finished:
                try:
                    self.redact.refresh(start.yaml)
                    self._log_run(start, nodes, finish)
                    self.logged += 1
                    self._failures = 0
                except Exception as exc:
                    self._failed(exc)
                    if self._writer is None:
                        return

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        parts = urlsplit(self.tracking_uri)
        if parts.scheme in ("http", "https"):
            # Fail in a second with a clear reason, not after MLflow's minutes of retries.
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=3).close()
            except OSError as exc:
                raise ConnectionError(f"cannot reach the MLflow server at "
                                      f"{parts.scheme}://{parts.netloc}: {exc}") from None
        mlflow = _import_mlflow()
        client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
        experiment = client.get_experiment_by_name(self.experiment)
        if experiment is None:
            try:
                self._experiment_id = client.create_experiment(
                    self.experiment, artifact_location=self.artifact_location)
            except Exception:
                experiment = client.get_experiment_by_name(self.experiment)  # created meanwhile
                if experiment is None:
                    raise
                self._experiment_id = experiment.experiment_id
        else:
            self._experiment_id = experiment.experiment_id
        self._client = client
        return client

    def _text(self, value: str | None) -> str:
        return truncate(self.redact(value or ""), self.max_text)

    def _json(self, value: Any) -> Any:
        return jsonable(value, self.redact, self.max_text)

    def _log_run(self, start: RunStarted, nodes: list[Any], finish: RunFinished) -> None:
        from mlflow.entities import Metric, Param, RunTag

        client = self._connect()
        finished = [n for n in nodes if isinstance(n, NodeFinished)]
        models = sorted({f"{n.provider}/{n.model}" for n in nodes if n.model})
        providers = sorted({n.provider for n in nodes if n.provider})
        yaml_text = self.redact(start.yaml or "")
        from ._store import workflow_hash

        tags = {"agents_magic.run_id": start.run_id, "agents_magic.workflow": start.workflow,
                "agents_magic.status": finish.status}
        run = client.create_run(self._experiment_id, start_time=_ms(start.at), tags=tags,
                                run_name=f"{start.workflow}-{start.run_id}")
        mlflow_run_id = run.info.run_id
        params = {"workflow": start.workflow, "workflow_hash": workflow_hash(start.yaml or ""),
                  "models": ",".join(models), "providers": ",".join(providers),
                  "run_id": start.run_id}
        stamp = _ms(finish.at)
        values: dict[str, float] = {"cost_usd": finish.cost_usd,
                                    "total_tokens": float(finish.total_tokens),
                                    "duration_ms": finish.duration_ms,
                                    "node_executions": float(len(nodes)),
                                    "cached_calls": float(sum(1 for n in finished if n.cached))}
        for node in nodes:
            key = _metric_name(f"node_{node.node_id}")
            values[f"{key}_duration_ms"] = values.get(f"{key}_duration_ms", 0.0) + node.duration_ms
            cost = node.cost_usd if isinstance(node, NodeFinished) else 0.0
            values[f"{key}_cost_usd"] = values.get(f"{key}_cost_usd", 0.0) + cost
            if node.provider:
                pkey = _metric_name(f"provider_{node.provider}_cost_usd")
                values[pkey] = values.get(pkey, 0.0) + cost
        client.log_batch(
            mlflow_run_id,
            metrics=[Metric(k, float(v), stamp, 0) for k, v in values.items()],
            params=[Param(k, truncate(self.redact(str(v)), PARAM_LIMIT - 40)[:PARAM_LIMIT])
                    for k, v in params.items()],
            tags=[RunTag("mlflow.note.content", self._text(finish.error))] if finish.error else [])
        if yaml_text:
            client.log_text(mlflow_run_id, yaml_text, "workflow.yaml")
        try:
            self._trace(start, nodes, finish, mlflow_run_id)
        finally:
            client.set_terminated(mlflow_run_id, status=_STATUS.get(finish.status, "FAILED"),
                                  end_time=stamp)

    def _trace(self, start: RunStarted, nodes: list[Any], finish: RunFinished,
               mlflow_run_id: str) -> None:
        from mlflow.entities import SpanStatus, SpanStatusCode, SpanType
        from mlflow.tracing.constant import SpanAttributeKey

        mlflow = _import_mlflow()
        ok = SpanStatus(SpanStatusCode.OK)
        # The caller (_write) has pointed MLflow's tracing at our tracking URI.
        root = mlflow.start_span_no_context(
            start.workflow, span_type=SpanType.WORKFLOW, inputs=self._json(dict(start.inputs)),
            attributes={"agents_magic.run_id": start.run_id},
            tags={"agents_magic.run_id": start.run_id, "agents_magic.workflow": start.workflow},
            metadata={"mlflow.sourceRun": mlflow_run_id}, experiment_id=self._experiment_id,
            start_time_ns=_ns(start.at))
        for node in sorted(nodes, key=lambda n: n.started_at):
            name = node.node_id if node.iteration == 1 else f"{node.node_id} #{node.iteration}"
            attributes = {"node_id": node.node_id, "iteration": node.iteration,
                          "attempts": node.attempts, "duration_ms": node.duration_ms}
            span = mlflow.start_span_no_context(
                name, span_type=SpanType.TASK, parent_span=root, attributes=attributes,
                start_time_ns=_ns(node.started_at))
            llm_attributes = {SpanAttributeKey.MODEL: node.model,
                              SpanAttributeKey.MODEL_PROVIDER: node.provider}
            if isinstance(node, NodeFinished):
                messages = [{"role": "user", "content": self._text(node.prompt)}]
                span.set_inputs({"prompt": messages[0]["content"]})
                llm_attributes.update({
                    SpanAttributeKey.CHAT_USAGE: {
                        "input_tokens": node.prompt_tokens,
                        "output_tokens": node.completion_tokens,
                        "total_tokens": node.prompt_tokens + node.completion_tokens},
                    SpanAttributeKey.LLM_COST: _llm_cost(node),
                    "cost_usd": node.cost_usd, "cached": bool(node.cached)})
                llm = mlflow.start_span_no_context(
                    f"{node.provider}/{node.model}", span_type=SpanType.CHAT_MODEL,
                    parent_span=span, inputs={"messages": messages},
                    attributes=llm_attributes, start_time_ns=_ns(node.started_at))
                llm.end(outputs=self._text(node.response), status=ok, end_time_ns=_ns(node.at))
                span.end(outputs=self._json(node.outputs),
                         attributes={"cost_usd": node.cost_usd, "cached": bool(node.cached)},
                         status=ok, end_time_ns=_ns(node.at))
            else:
                error = SpanStatus(SpanStatusCode.ERROR, self._text(node.error)[:1000])
                llm = mlflow.start_span_no_context(
                    f"{node.provider}/{node.model}", span_type=SpanType.CHAT_MODEL,
                    parent_span=span, attributes=llm_attributes,
                    start_time_ns=_ns(node.started_at))
                llm.end(attributes={"error_kind": node.kind}, status=error,
                        end_time_ns=_ns(node.at))
                span.end(attributes={"error": self._text(node.error)}, status=error,
                         end_time_ns=_ns(node.at))
        status = ok if finish.status == "succeeded" else SpanStatus(
            SpanStatusCode.ERROR, f"{finish.status}: {self._text(finish.error)}"[:1000])
        root.end(outputs=self._json(dict(finish.outputs)),
                 attributes={"status": finish.status, "cost_usd": finish.cost_usd},
                 status=status, end_time_ns=_ns(finish.at))


class _TrackingUriSwitch:
    """Point MLflow's global tracking URI at ``uri``; restore the user's URI and environment."""

    def __init__(self, mlflow: Any, uri: str) -> None:
        self.mlflow, self.uri = mlflow, uri

    def __enter__(self) -> None:
        from mlflow.tracking._tracking_service import utils

        self.previous = utils._tracking_uri
        self.previous_env = os.environ.get("MLFLOW_TRACKING_URI")
        self.previous_async = os.environ.get(ASYNC_ENV)
        # We already are on a background thread: export synchronously, so the trace is in
        # the store when we return and no export thread has to be drained on every swap.
        os.environ[ASYNC_ENV] = "false"
        self.changed = self.previous != self.uri
        if self.changed:
            self.mlflow.set_tracking_uri(self.uri)

    def __exit__(self, *exc: Any) -> None:
        if self.previous_async is None:
            os.environ.pop(ASYNC_ENV, None)
        else:
            os.environ[ASYNC_ENV] = self.previous_async
        if not self.changed:
            return
        self.mlflow.set_tracking_uri(self.previous)  # None unsets the variable too
        if self.previous_env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = self.previous_env
