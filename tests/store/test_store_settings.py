"""The session settings: every documented one read from its environment variable and honoured
by a run; MLflow options from a workflow's ``config.observability.mlflow``; MLflow work kept
out of the user's own MLflow; no run lost when the process exits right after it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from store_helpers import chain, rows

import agents_magic as am
from agents_magic import _settings
from agents_magic._settings import Settings
from agents_magic.notebook._magics import SETTING_TRAITS
from agents_magic.sinks import close_sinks, default_sinks
from agents_magic.sinks._mlflow import mlflow_options

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
#: (environment value, the setting's value) for every documented setting.
FROM_ENV = {
    "default_provider": ("mock", "mock"),
    "default_model": ("ollama/llama3", "ollama/llama3"),
    "data_dir": ("/tmp/am-elsewhere", Path("/tmp/am-elsewhere")),
    "storage_url": ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    "store": ("0", False),
    "cache": ("off", False),
    "mlflow": ("1", True),
    "mlflow_tracking_uri": ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    "max_concurrency": ("2", 2),
    "budget_usd": ("0.000001", 0.000001),
    "live_display": ("false", False),
}


def test_the_documented_settings_are_the_settings_and_the_options():
    names = [f.name for f in dataclasses.fields(Settings)]
    assert set(names) == set(FROM_ENV) == set(SETTING_TRAITS)
    documented = README.split("Settings (`%config")[1].split("Precedence")[0]
    assert all(f"`{name}`" in documented for name in names)


@pytest.mark.parametrize("name", sorted(FROM_ENV))
def test_every_setting_is_read_from_its_environment_variable(name, monkeypatch):
    text, value = FROM_ENV[name]
    monkeypatch.setenv(f"AGENTS_MAGIC_{name.upper()}", text)
    assert getattr(_settings.reset(), name) == value
    assert getattr(Settings(), name) != value  # not the default


def test_an_unreadable_value_is_ignored_with_a_warning(monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_MAX_CONCURRENCY", "lots")
    with pytest.warns(RuntimeWarning, match="AGENTS_MAGIC_MAX_CONCURRENCY.*whole number"):
        assert _settings.reset().max_concurrency is None
    monkeypatch.delenv("AGENTS_MAGIC_MAX_CONCURRENCY")  # before the fixtures re-read it


def _priced(base_url: str, *, fan: int = 1, execution: str = "{max_retries: 0}") -> str:
    names = [f"n{i}" for i in range(fan)]
    nodes = "\n".join(f"  - {{id: {n}, prompt: \"Say {n}: {{state.text}}\", outputs: [{n}]}}"
                      for n in names)
    fields = "\n".join(f"    {n}: {{type: str, default: ''}}" for n in names)
    return (f'schema_version: "1.0"\nflow: {{name: priced}}\nstate:\n  fields:\n'
            f"    text: {{type: str, required: true}}\n{fields}\nnodes:\n{nodes}\nedges:\n"
            f"  - {{from: START, to: [{', '.join(names)}]}}\n"
            + "".join(f"  - {{from: {n}, to: END}}\n" for n in names)
            + f"config:\n  llm: {{provider: openai, model: gpt-4o-mini, api_base: \"{base_url}\"}}\n"
            f"  execution: {execution}\n")


def test_a_tiny_budget_from_the_environment_stops_the_run(fake_llm, monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_BUDGET_USD", "0.000001")
    _settings.reset()
    result = am.run(am.load(_priced(fake_llm.base_url)), {"text": "hello " * 50})
    assert result.status == "budget_exceeded"
    assert fake_llm.requests() == []  # stopped before the call that would exceed it


def test_max_concurrency_from_the_environment_bounds_calls_in_flight(fake_llm, monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_MAX_CONCURRENCY", "2")
    _settings.reset()
    fake_llm.configure(latency_ms=100)
    # The workflow says nothing about max_concurrency, so the session setting applies.
    result = am.run(am.load(_priced(fake_llm.base_url, fan=6)), {"text": "x"})
    assert result.ok, result.error
    assert len(fake_llm.requests()) == 6
    assert 1 <= fake_llm.stats()["max_in_flight"] <= 2


# -- MLflow options: workflow config over session settings ------------------------------------
def test_observability_mlflow_in_a_workflow_wins_over_the_settings(tmp_path):
    settings = Settings(data_dir=tmp_path, mlflow=False)
    assert mlflow_options(settings) == mlflow_options(settings, None)
    assert not mlflow_options(settings).enabled
    section = {"mlflow": {"enabled": True, "tracking_uri": "sqlite:///w.db",
                          "experiment_name": "exp"}}
    options = mlflow_options(settings, section)
    assert (options.enabled, options.tracking_uri, options.experiment) == (
        True, "sqlite:///w.db", "exp")
    on = Settings(data_dir=tmp_path, mlflow=True, mlflow_tracking_uri="sqlite:///s.db")
    assert not mlflow_options(on, {"mlflow": {"enabled": False}}).enabled
    kept = mlflow_options(on, {"mlflow": {"experiment_name": "e2"}})
    assert (kept.enabled, kept.tracking_uri, kept.experiment) == (True, "sqlite:///s.db", "e2")
    with pytest.raises(am.ConfigError) as error:
        mlflow_options(on, {"mlflow": {"enabled": "yes please"}})
    assert "`config.observability.mlflow.enabled` must be true or false" in error.value.report()


def test_a_workflows_mlflow_section_chooses_the_sink(data_dir, tmp_path):
    yaml_text = chain(1) + textwrap.indent(textwrap.dedent(f"""\
        observability:
          mlflow: {{enabled: true, tracking_uri: "sqlite:///{tmp_path / 'wf.db'}",
                   experiment_name: from_yaml}}
        """), "  ")
    wf = am.load(yaml_text)
    (sink,) = default_sinks(_settings.reset(), wf.spec.config)  # settings: MLflow off
    assert (sink.tracking_uri, sink.experiment) == (f"sqlite:///{tmp_path / 'wf.db'}", "from_yaml")
    assert default_sinks(_settings.settings, am.load(chain(1)).spec.config) == []
    close_sinks()


def test_the_users_concurrent_mlflow_run_goes_to_the_users_store(mlflow_db, tmp_path,
                                                                 monkeypatch):
    pytest.importorskip("mlflow")
    import threading

    import mlflow

    from agents_magic.sinks import MLflowSink

    theirs = f"sqlite:///{tmp_path / 'theirs.db'}"
    # Both put back after the test; set_tracking_uri sets the variable too.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", theirs)
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    mlflow.set_tracking_uri(theirs)
    sink = MLflowSink()
    wf = am.load(chain(2))
    results = [am.run(wf, {"text": str(i)}, sinks=[sink]) for i in range(3)]
    flushed = threading.Thread(target=sink.flush, args=(120,))
    flushed.start()  # the sink logs while the user logs
    with mlflow.start_run() as run:
        for step in range(20):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    flushed.join()
    assert sink.logged == 3 and sink.problem is None
    assert mlflow.get_tracking_uri() == theirs == os.environ["MLFLOW_TRACKING_URI"]
    users = mlflow.MlflowClient(theirs)
    assert users.get_run(run.info.run_id).data.metrics["loss"] == pytest.approx(0.05)
    ours = mlflow.MlflowClient(sink.tracking_uri)
    experiment = ours.get_experiment_by_name("agents_magic")
    logged = {r.data.tags["agents_magic.run_id"] for r in ours.search_runs([experiment.experiment_id])}
    assert logged == {r.run_id for r in results}
    assert len(ours.search_traces(locations=[experiment.experiment_id])) == 3
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        ours.get_run(run.info.run_id)  # the user's run is not in our store
    assert users.get_experiment_by_name("agents_magic") is None
    sink.close()


# -- no run lost on exit ----------------------------------------------------------------------
EXIT_SCRIPT = """
import sys, agents_magic as am
text = "x" * (50 * 1024 * 1024)
result = am.run(am.load(sys.argv[1]), {"text": text})
print(result.run_id, result.status, flush=True)
"""


def test_a_run_with_a_50_mb_input_is_stored_finished_when_the_process_exits_at_once(
        tmp_path, sqlite_url):
    workflow = tmp_path / "flow.yaml"
    workflow.write_text(chain(1).replace("Step 1: {state.text}", "Step 1"), encoding="utf-8")
    env = {**os.environ, "AGENTS_MAGIC_STORE": "1", "AGENTS_MAGIC_STORAGE_URL": sqlite_url,
           "AGENTS_MAGIC_MLFLOW": "0", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(workflow)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_id, status = done.stdout.split()[-2:]
    assert status == "succeeded"
    (row,) = rows(sqlite_url, "SELECT run_id, status, inputs FROM runs")
    assert (row["run_id"], row["status"]) == (run_id, "succeeded")
    stored = row["inputs"] if isinstance(row["inputs"], dict) else json.loads(row["inputs"])
    assert "truncated" in stored["text"] and len(stored["text"]) < 21_000
