"""The MLflow side of :class:`~agents_magic.sinks.MLflowSink`, run in a child process.

MLflow's tracing exports to the process-wide tracking URI through a process-wide tracer, so
MLflow is only ever imported here: pointing it at our store cannot touch a user's own MLflow
calls. Protocol: one JSON request per line on stdin, ``{"tracking_uri", "experiment",
"artifact_location", "runs": [record, ...]}`` (records are already redacted and bounded, see
``_mlflow.run_record``), one JSON reply per line, ``{"results": [null | "error", ...]}`` or
``{"error": "...", "import_error": bool}`` when MLflow or the store cannot be used at all.
A request may also carry ``"evaluations": [record, ...]`` (``_mlflow.evaluation_record``),
logged after its runs; the reply then has ``"evaluations": [{"id", "run_id" | "error"}, ...]``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

from ..engine.events import execution_label

PARAM_LIMIT = 500
_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED",
           "budget_exceeded": "FAILED"}


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _import_mlflow() -> Any:
    import logging

    import mlflow

    for name in ("mlflow", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.ERROR)
    mlflow.tracing.disable_notebook_display()  # type: ignore[no-untyped-call]
    return mlflow


class Logger:
    """Logs run records to one tracking URI."""

    def __init__(self, tracking_uri: str) -> None:
        parts = urlsplit(tracking_uri)
        if parts.scheme in ("http", "https"):
            # Fail in a second with a clear reason, not after MLflow's minutes of retries.
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=3).close()
            except OSError as exc:
                raise ConnectionError(f"cannot reach the MLflow server at "
                                      f"{parts.scheme}://{parts.netloc}: {exc}") from None
        self.tracking_uri = tracking_uri
        self.mlflow = _import_mlflow()
        self.client = self.mlflow.MlflowClient(tracking_uri=tracking_uri)
        self.experiments: dict[str, str] = {}

    def experiment_id(self, name: str, artifact_location: str | None) -> str:
        if name not in self.experiments:
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                try:
                    found = self.client.create_experiment(name, artifact_location=artifact_location)
                except Exception:
                    experiment = self.client.get_experiment_by_name(name)  # created meanwhile
                    if experiment is None:
                        raise
                    found = experiment.experiment_id
            else:
                found = experiment.experiment_id
            self.experiments[name] = found
        return self.experiments[name]

    def log_run(self, experiment_id: str, run: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        tags = {"agents_magic.run_id": run["run_id"], "agents_magic.workflow": run["workflow"],
                "agents_magic.status": run["status"]}
        created = self.client.create_run(experiment_id, start_time=_ms(run["started_at"]),
                                         tags=tags, run_name=f"{run['workflow']}-{run['run_id']}")
        mlflow_run_id = created.info.run_id
        stamp = _ms(run["finished_at"])
        self.client.log_batch(
            mlflow_run_id,
            metrics=[Metric(k, float(v), stamp, 0) for k, v in run["metrics"].items()],
            params=[Param(k, str(v)[:PARAM_LIMIT]) for k, v in run["params"].items()],
            tags=[RunTag("mlflow.note.content", run["error"])] if run["error"] else [])
        if run["yaml"]:
            self.client.log_text(mlflow_run_id, run["yaml"], "workflow.yaml")
        try:
            self.trace(experiment_id, run, mlflow_run_id)
        finally:
            self.client.set_terminated(mlflow_run_id, status=_STATUS.get(run["status"], "FAILED"),
                                       end_time=stamp)

    def trace(self, experiment_id: str, run: dict[str, Any], mlflow_run_id: str) -> None:
        from mlflow.entities import SpanStatus, SpanStatusCode, SpanType
        from mlflow.tracing.constant import SpanAttributeKey

        self.mlflow.set_tracking_uri(self.tracking_uri)  # where tracing exports (this process only)
        start = self.mlflow.start_span_no_context
        ok = SpanStatus(SpanStatusCode.OK)
        root = start(run["workflow"], span_type=SpanType.WORKFLOW, inputs=run["inputs"],
                     attributes={"agents_magic.run_id": run["run_id"]},
                     tags={"agents_magic.run_id": run["run_id"],
                           "agents_magic.workflow": run["workflow"]},
                     metadata={"mlflow.sourceRun": mlflow_run_id}, experiment_id=experiment_id,
                     start_time_ns=_ns(run["started_at"]))
        for node in run["nodes"]:
            name = execution_label(node["node_id"], node.get("item"), node["iteration"])
            span = start(name, span_type=SpanType.TASK, parent_span=root,
                         attributes={k: node[k] for k in ("node_id", "iteration", "item",
                                                          "attempts", "duration_ms")
                                     if node.get(k) is not None},
                         start_time_ns=_ns(node["started_at"]))
            llm_attributes: dict[str, Any] = {SpanAttributeKey.MODEL: node["model"],
                                              SpanAttributeKey.MODEL_PROVIDER: node["provider"]}
            end = _ns(node["finished_at"])
            usage = {"cost_usd": node["cost_usd"], "cached": node["cached"]}
            if node["error"] is None:
                messages = [{"role": "user", "content": node["prompt"]}]
                span.set_inputs({"prompt": node["prompt"]})
                llm_attributes.update({
                    SpanAttributeKey.CHAT_USAGE: {
                        "input_tokens": node["prompt_tokens"],
                        "output_tokens": node["completion_tokens"],
                        "total_tokens": node["prompt_tokens"] + node["completion_tokens"]},
                    SpanAttributeKey.LLM_COST: node["llm_cost"], **usage})
                llm = start(f"{node['provider']}/{node['model']}", span_type=SpanType.CHAT_MODEL,
                            parent_span=span, inputs={"messages": messages},
                            attributes=llm_attributes, start_time_ns=_ns(node["started_at"]))
                llm.end(outputs=node["response"], status=ok, end_time_ns=end)
                span.end(outputs=node["outputs"], attributes=usage, status=ok, end_time_ns=end)
            else:
                error = SpanStatus(SpanStatusCode.ERROR, node["error"][:1000])
                llm = start(f"{node['provider']}/{node['model']}", span_type=SpanType.CHAT_MODEL,
                            parent_span=span, attributes=llm_attributes,
                            start_time_ns=_ns(node["started_at"]))
                llm.end(attributes={"error_kind": node["kind"]}, status=error, end_time_ns=end)
                span.end(attributes={"error": node["error"], **usage}, status=error,
                         end_time_ns=end)
        status = ok if run["status"] == "succeeded" else SpanStatus(
            SpanStatusCode.ERROR, f"{run['status']}: {run['error'] or ''}"[:1000])
        root.end(outputs=run["outputs"],
                 attributes={"status": run["status"], "cost_usd": run["metrics"]["cost_usd"]},
                 status=status, end_time_ns=_ns(run["finished_at"]))


    def log_evaluation(self, experiment_id: str, evaluation: dict[str, Any]) -> str:
        """A parent run for the evaluation, a nested run per variant, and the runs of its rows
        (logged earlier to this experiment) nested under their variant's run."""
        from mlflow.entities import Metric, Param, RunTag

        tags = {"agents_magic.evaluation_id": evaluation["id"],
                "agents_magic.workflow": evaluation["workflow"],
                "agents_magic.status": evaluation["status"], "agents_magic.kind": "evaluation"}
        start, end = _ms(evaluation["started_at"]), _ms(evaluation["finished_at"])
        status = _STATUS.get(evaluation["status"], "FAILED")

        def log(run_id: str, metrics: dict[str, float], params: dict[str, str]) -> None:
            self.client.log_batch(
                run_id, metrics=[Metric(k, float(v), end, 0) for k, v in metrics.items()],
                params=[Param(k, str(v)[:PARAM_LIMIT]) for k, v in params.items()])

        parent = self.client.create_run(experiment_id, start_time=start, tags=tags,
                                        run_name=evaluation["name"]).info.run_id
        try:
            log(parent, evaluation["metrics"], evaluation["params"])
            if evaluation["yaml"]:
                self.client.log_text(parent, evaluation["yaml"], "workflow.yaml")
            self.client.log_dict(parent, evaluation["config"], "evaluation_config.json")
            children = {}
            for variant in evaluation["variants"]:
                child = self.client.create_run(
                    experiment_id, start_time=start, run_name=variant["name"],
                    tags={**tags, "mlflow.parentRunId": parent,
                          "agents_magic.variant": variant["name"]}).info.run_id
                try:
                    log(child, variant["metrics"], variant["params"])
                    children[variant["name"]] = child
                finally:
                    self.client.set_terminated(child, status=status, end_time=end)
            wanted = {run_id: variant["name"] for variant in evaluation["variants"]
                      for run_id in variant["run_ids"]}
            token = None
            while wanted:
                page = self.client.search_runs(
                    [experiment_id], f"attributes.start_time >= {start - 1000}",
                    max_results=1000, page_token=token)
                for run in page:
                    name = wanted.pop(run.data.tags.get("agents_magic.run_id", ""), None)
                    if name is not None:
                        self.client.log_batch(run.info.run_id, tags=[
                            RunTag("mlflow.parentRunId", children[name]),
                            RunTag("agents_magic.evaluation_id", evaluation["id"]),
                            RunTag("agents_magic.variant", name)])
                token = page.token
                if not token:
                    break
        finally:
            self.client.set_terminated(parent, status=status, end_time=end)
        return str(parent)


def _handle(loggers: dict[str, Logger], request: dict[str, Any]) -> dict[str, Any]:
    uri = request["tracking_uri"]
    try:
        if uri not in loggers:
            loggers[uri] = Logger(uri)
        logger = loggers[uri]
        experiment_id = logger.experiment_id(request["experiment"], request["artifact_location"])
    except ImportError as exc:
        return {"error": str(exc), "import_error": True}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "import_error": False}
    results: list[str | None] = []
    for run in request["runs"]:
        try:
            logger.log_run(experiment_id, run)
            results.append(None)
        except Exception as exc:
            results.append(f"{type(exc).__name__}: {exc}")
    evaluations: list[dict[str, str]] = []
    for evaluation in request.get("evaluations", []):
        try:
            evaluations.append({"id": evaluation["id"],
                                "run_id": logger.log_evaluation(experiment_id, evaluation)})
        except Exception as exc:
            evaluations.append({"id": evaluation["id"], "error": f"{type(exc).__name__}: {exc}"})
    return {"results": results, "evaluations": evaluations}


def main() -> None:
    # Replies go to the original stdout; anything MLflow prints goes to stderr instead.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    loggers: dict[str, Logger] = {}
    for line in sys.stdin:
        replies.write(json.dumps(_handle(loggers, json.loads(line))) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
