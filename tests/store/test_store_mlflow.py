"""MLflowSink: one MLflow run and one trace per workflow run, in a local SQLite tracking store."""

from __future__ import annotations

import shlex
import warnings

import pytest
from store_helpers import FAILING, FANOUT

import agents_magic as am
from agents_magic import _settings
from agents_magic.sinks import MLflowSink, _mlflow, mlflow_ui_command

pytest.importorskip("mlflow")


def _client(sink):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=sink.tracking_uri)


def test_a_run_becomes_an_mlflow_run_with_a_trace(mlflow_db, data_dir):
    sink = MLflowSink()
    assert sink.tracking_uri == f"sqlite:///{mlflow_db}"
    wf = am.load(FANOUT)
    result = am.run(wf, {"text": "hello"}, sinks=[sink])
    assert sink.flush(120) and sink.problem is None and sink.logged == 1
    client = _client(sink)
    experiment = client.get_experiment_by_name("agents_magic")
    assert experiment.artifact_location == (data_dir / "mlflow-artifacts").as_uri()
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["agents_magic.run_id"] == result.run_id
    params = run.data.params
    assert params["workflow"] == "fanout" and params["workflow_hash"] == wf.hash
    assert params["models"] == "mock/mock" and params["providers"] == "mock"
    metrics = run.data.metrics
    assert metrics["total_tokens"] == result.total_tokens and metrics["cost_usd"] == 0.0
    assert metrics["duration_ms"] == pytest.approx(result.duration_ms)
    assert metrics["node_slow_duration_ms"] >= 290
    assert {"node_split_cost_usd", "node_join_cost_usd", "provider_mock_cost_usd"} <= set(metrics)
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert artifacts == ["workflow.yaml"]
    assert (data_dir / "mlflow-artifacts").exists()
    (trace,) = client.search_traces(locations=[experiment.experiment_id])
    assert trace.info.trace_metadata["mlflow.sourceRun"] == run.info.run_id
    spans = trace.data.spans
    root = next(s for s in spans if s.parent_id is None)
    assert root.name == "fanout" and root.inputs["text"] == "hello"
    tasks = {s.name: s for s in spans if s.span_type == "TASK"}
    assert set(tasks) == {"split", "slow", "quick", "join"}
    assert all(s.parent_id == root.span_id for s in tasks.values())
    llm_calls = [s for s in spans if s.span_type == "CHAT_MODEL"]
    assert len(llm_calls) == 4
    slow_call = next(s for s in llm_calls if s.parent_id == tasks["slow"].span_id)
    assert slow_call.inputs["messages"][0]["content"].startswith("Slow branch on")
    assert slow_call.outputs.startswith("Mock reply")
    usage = slow_call.get_attribute("mlflow.chat.tokenUsage")
    assert usage["input_tokens"] > 0 and usage["total_tokens"] == (
        usage["input_tokens"] + usage["output_tokens"])
    assert trace.info.token_usage["total_tokens"] == result.total_tokens
    duration_ms = (tasks["slow"].end_time_ns - tasks["slow"].start_time_ns) / 1e6
    assert duration_ms == pytest.approx(metrics["node_slow_duration_ms"], abs=1)
    sink.close()


def test_a_failed_run_is_a_failed_mlflow_run_with_an_error_span(mlflow_db):
    sink = MLflowSink()
    result = am.run(am.load(FAILING), {"text": "x"}, sinks=[sink])
    assert result.status == "failed"
    sink.flush(120)
    client = _client(sink)
    (run,) = client.search_runs([client.get_experiment_by_name("agents_magic").experiment_id])
    assert run.info.status == "FAILED"
    (trace,) = client.search_traces(locations=[run.info.experiment_id])
    rate = next(s for s in trace.data.spans if s.name == "rate")
    assert rate.status.status_code == "ERROR" and "invalid_output" in rate.get_attribute("error")
    sink.close()


def test_the_users_tracking_uri_is_left_alone(mlflow_db, tmp_path, monkeypatch):
    import mlflow

    theirs = f"sqlite:///{tmp_path / 'theirs.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", theirs)
    sink = MLflowSink()
    am.run(am.load(FAILING), {"text": "x"}, sinks=[sink])
    sink.flush(120)
    assert mlflow.get_tracking_uri() == theirs
    assert not (tmp_path / "theirs.db").exists()
    sink.close()


def test_missing_mlflow_warns_once_and_runs_succeed(monkeypatch):
    real = _mlflow.importlib.util.find_spec
    monkeypatch.setattr(_mlflow.importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.warns(RuntimeWarning, match=r"`mlflow` is not installed.*agents_magic\[mlflow\]"):
        sink = MLflowSink()
    assert not sink.enabled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert am.run(am.load(FAILING), {"text": "x"}, sinks=[sink]).status == "failed"
        assert sink.flush()


def test_an_unreachable_server_warns_once_and_runs_succeed(data_dir):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = MLflowSink(f"http://127.0.0.1:{port}")
    wf = am.load(FANOUT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [am.run(wf, {"text": "x"}, sinks=[sink]) for _ in range(2)]
        assert sink.flush(30)
    assert all(r.ok for r in results)
    mine = [str(w.message) for w in caught if "MLflow" in str(w.message)]
    assert len(mine) == 1 and "cannot reach the MLflow server" in mine[0], mine
    sink.close()


def test_a_bad_tracking_uri_warns_once_then_gives_up(data_dir):
    sink = MLflowSink("nosuchscheme://x/y")
    thread = sink._writer._thread
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            am.run(am.load(FAILING), {"text": "x"}, sinks=[sink])
            sink.flush(60)
    assert len([w for w in caught if "MLflow" in str(w.message)]) == 1
    assert sink.problem and not sink.enabled  # after 3 failed runs it stops trying
    thread.join(5)
    assert not thread.is_alive()


def test_ui_command(data_dir, monkeypatch):
    command = mlflow_ui_command(_settings.settings)
    parts = shlex.split(command.split("&&")[-1])
    assert parts[:2] == ["mlflow", "ui"]
    assert parts[parts.index("--backend-store-uri") + 1] == f"sqlite:///{data_dir / 'mlflow.db'}"
    assert parts[parts.index("--host") + 1] == "127.0.0.1"
    if not _mlflow._ui_available():  # mlflow-skinny has no UI: install the full package first
        assert command.startswith("pip install mlflow==")
    monkeypatch.setenv("AGENTS_MAGIC_MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert mlflow_ui_command(_settings.reset()) == "python -m webbrowser -t http://127.0.0.1:5000"


def test_duplicate_events_are_logged_once(mlflow_db):
    sink = MLflowSink()
    am.run(am.load(FANOUT), {"text": "x"}, sinks=[sink, sink])
    sink.flush(120)
    client = _client(sink)
    experiment_id = client.get_experiment_by_name("agents_magic").experiment_id
    assert len(client.search_runs([experiment_id])) == 1
    (trace,) = client.search_traces(locations=[experiment_id])
    assert len([s for s in trace.data.spans if s.span_type == "TASK"]) == 4
    sink.close()
