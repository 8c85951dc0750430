"""An evaluation run through ``agents_magic.evaluate`` is kept: listed by ``evaluations()``,
rebuilt by ``load_evaluation()`` without calls, and logged to MLflow with its variants."""

from __future__ import annotations

import pytest

import agents_magic as am
from agents_magic import _settings
from agents_magic.sinks import flush_sinks

QA = """
schema_version: "1.0"
flow: {name: capitals}
state:
  fields:
    question: {type: str, required: true}
    answer: {type: str, default: ""}
nodes:
  - {id: answer, prompt: "Q: {state.question}", outputs: [answer]}
edges:
  - {from: START, to: answer}
  - {from: answer, to: END}
config:
  llm: {provider: mock, responses: ["Paris"]}
"""
DATA = [{"question": f"q{i}", "expected_answer": "Paris" if i % 4 else "Rome"} for i in range(8)]
VARIANTS = {"A": {}, "B": {"nodes.answer.llm.responses": ["Rome"]}}


@pytest.fixture
def recording(store_url, monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_STORE", "1")
    monkeypatch.setenv("AGENTS_MAGIC_STORAGE_URL", store_url)
    _settings.reset()
    return store_url


def test_an_evaluation_is_listed_and_rebuilt_without_calls(recording):
    result = am.evaluate(QA, DATA, ["exact"], variants=VARIANTS, progress=False, name="capitals-ab")
    listed = am.evaluations()
    assert listed["id"].tolist() == [result.id]
    assert listed.iloc[0][["name", "workflow", "rows", "variants"]].tolist() == [
        "capitals-ab", "capitals", 16, 2]
    again = am.load_evaluation(result.id[:8])
    assert again.table.drop(columns=["latency_ms"]).equals(result.table.drop(columns=["latency_ms"]))
    assert again.summary.loc[["A", "B"], "exact"].tolist() == [0.75, 0.25]
    assert again.compare("A", "B").equals(result.compare("A", "B"))
    assert am.evaluations("capitals")["id"].tolist() == [result.id]
    assert am.evaluations("other").empty


def test_an_evaluation_with_mlflow_on_has_a_run_per_variant(recording, mlflow_db, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("AGENTS_MAGIC_MLFLOW", "1")
    _settings.reset()
    result = am.evaluate(QA, DATA, ["exact"], variants=VARIANTS, progress=False)
    flush_sinks(kind="mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{mlflow_db}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              f"tags.`agents_magic.evaluation_id` = '{result.id}'")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    children = client.search_runs([parents[0].info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'")
    by_name = {r.data.tags.get("mlflow.runName"): r for r in children}
    assert {"A", "B"} <= set(by_name)
    assert by_name["A"].data.metrics["exact"] == pytest.approx(0.75)
    assert by_name["B"].data.metrics["exact"] == pytest.approx(0.25)
