"""Evaluations in MLflow: a parent run, a nested run per variant, the rows' runs under them."""

from __future__ import annotations

import json
import shutil
import threading
import types
import warnings
from pathlib import Path

import pytest
from store_helpers import chain, make_record

import agents_magic as am
from agents_magic import _settings
from agents_magic.sinks import default_sinks, log_evaluation

pytest.importorskip("mlflow")

SUMMARY = {"baseline": {"exact_avg": 0.5, "judge_avg": 0.625, "gate passed": True,
                        "p95 latency/ms": 13.5, "undefined": float("nan"), "missing": None},
           "short": {"exact_avg": 0.25, "judge_avg": 0.5, "gate passed": False,
                     "p95 latency/ms": 12.5}}


def _client(uri):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri)


def _evaluated(sinks):
    """A record whose succeeded rows are real runs logged by ``sinks``."""
    workflow = am.load(chain(2))
    record = make_record(rows_per_variant=2, repeats=1)
    for row in record["rows"]:
        if row["status"] == "succeeded":
            row["run_id"] = am.run(workflow, {"text": row["inputs"]["text"]}, sinks=sinks).run_id
    return record


@pytest.fixture
def mlflow_on(mlflow_db, monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_MLFLOW", "1")
    _settings.reset()
    return f"sqlite:///{mlflow_db}"


def test_parent_run_nested_variants_and_rows(mlflow_on):
    record = _evaluated(default_sinks())
    sink = log_evaluation(record, SUMMARY)
    assert sink is not None and sink.flush(120) and sink.problem is None
    client = _client(mlflow_on)
    parent = client.get_run(sink.evaluations[record["id"]])
    assert parent.info.run_name == "prompts" and parent.info.status == "FINISHED"
    assert parent.data.tags["agents_magic.kind"] == "evaluation"
    assert parent.data.tags["agents_magic.evaluation_id"] == record["id"]
    assert "mlflow.parentRunId" not in parent.data.tags
    params = parent.data.params
    assert params["workflow"] == "summarize" and params["variants"] == "baseline,short"
    assert params["metrics"] == "exact,judge,contains" and params["repeats"] == "1"
    assert parent.data.metrics == {"rows": 4.0, "failed_rows": 2.0,
                                   "cost_usd": pytest.approx(2 * 0.0015),
                                   "judge_cost_usd": pytest.approx(2 * 0.0002),
                                   "total_tokens": 84.0}
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert artifacts == {"workflow.yaml", "evaluation_config.json"}
    config = json.loads(Path(client.download_artifacts(
        parent.info.run_id, "evaluation_config.json")).read_text())
    assert config == record["config"]

    experiment = parent.info.experiment_id
    children = {run.info.run_name: run for run in client.search_runs(
        [experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")}
    assert set(children) == {"baseline", "short"}
    short = children["short"].data
    assert short.params == {"variant": "short", "nodes.summarize.prompt": "Be short"}
    assert short.metrics == {"exact_avg": 0.25, "judge_avg": 0.5, "gate passed": 0.0,
                             "p95 latency/ms": 12.5}
    assert children["baseline"].data.metrics == {"exact_avg": 0.5, "judge_avg": 0.625,
                                                 "gate passed": 1.0, "p95 latency/ms": 13.5}
    assert children["baseline"].info.status == "FINISHED"

    # Every row's own run now sits under its variant's run.
    for row in record["rows"]:
        if row["run_id"] is None:
            continue
        (run,) = client.search_runs([experiment],
                                    f"tags.`agents_magic.run_id` = '{row['run_id']}'")
        assert run.data.tags["mlflow.parentRunId"] == children[row["variant"]].info.run_id
        assert run.data.tags["agents_magic.evaluation_id"] == record["id"]


def test_a_users_own_mlflow_run_stays_in_the_users_store(mlflow_on, mlflow_template, tmp_path,
                                                         monkeypatch):
    import mlflow

    theirs = f"sqlite:///{tmp_path / 'theirs.db'}"
    shutil.copy(mlflow_template, tmp_path / "theirs.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", theirs)
    record = _evaluated(default_sinks())
    with mlflow.start_run(run_name="my own") as mine:
        sink = log_evaluation(record, SUMMARY)
        flushed = threading.Thread(target=sink.flush, args=(120,))
        flushed.start()
        step = 0
        while flushed.is_alive() or step == 0:  # the user logs while the evaluation is logged
            mlflow.log_metric("user_metric", float(step), step=step)
            step += 1
        flushed.join()
        assert mlflow.active_run().info.run_id == mine.info.run_id
        mlflow.log_param("after", "yes")
    assert record["id"] in sink.evaluations and sink.problem is None
    assert mlflow.get_tracking_uri() == theirs
    (their_run,) = _client(theirs).search_runs(["0"])
    assert their_run.info.run_id == mine.info.run_id
    assert their_run.data.params == {"after": "yes"} and "user_metric" in their_run.data.metrics
    assert not any(k.startswith("agents_magic") for k in their_run.data.tags)
    ours = _client(mlflow_on)
    experiment = ours.get_experiment_by_name("agents_magic").experiment_id
    logged = ours.search_runs([experiment])
    assert len(logged) == 1 + 2 + 2  # parent, two variants, two row runs
    assert not any("user_metric" in run.data.metrics for run in logged)


def test_mlflow_off_logs_nothing(data_dir):
    assert log_evaluation(make_record(), SUMMARY) is None
    assert not (data_dir / "mlflow.db").exists()


def test_the_workflows_config_turns_it_on_and_names_the_experiment(mlflow_db):
    config = types.SimpleNamespace(
        observability={"mlflow": {"enabled": True, "experiment_name": "evals"}})
    record = make_record(rows_per_variant=1, repeats=1)
    sink = log_evaluation(record, SUMMARY, config=config)
    assert sink is not None and sink.flush(120) and sink.problem is None
    client = _client(f"sqlite:///{mlflow_db}")
    runs = client.search_runs([client.get_experiment_by_name("evals").experiment_id])
    assert {run.info.run_name for run in runs} == {"prompts", "baseline", "short"}


def test_a_malformed_record_warns_and_later_ones_still_log(mlflow_on):
    broken = make_record()
    del broken["rows"][0]["status"]
    good = make_record(name="good")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sink = log_evaluation(broken, SUMMARY)
        log_evaluation(good, SUMMARY)
        assert sink.flush(120)
    messages = [str(w.message) for w in caught if "MLflow" in str(w.message)]
    assert len(messages) == 1 and "cannot be logged: KeyError" in messages[0]
    assert broken["id"] not in sink.evaluations and good["id"] in sink.evaluations
