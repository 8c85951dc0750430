"""evaluate() end to end: the mock provider and the local fake server, never the network."""

from __future__ import annotations

import os
import signal
import threading

import pandas as pd
import pytest
from eval_helpers import qa_yaml, server_yaml

import agents_magic as am
from agents_magic.errors import InputError


def questions(n: int, expected: str | None = "Paris") -> list[dict]:
    return [{"question": f"q{i}", **({"expected_answer": expected} if expected else {})}
            for i in range(n)]


def test_table_summary_and_metric_columns_on_the_mock():
    wf = qa_yaml('{provider: mock, responses: ["Paris is the capital"]}')
    result = am.evaluate(wf, pd.DataFrame(questions(12)),
                         ["contains", "regex:^Paris", "exact", lambda row, out: len(out["answer"]) / 100],
                         progress=False)
    assert result.status == "succeeded" and len(result.table) == 12
    table = result.table
    assert {"question", "output_answer", "expected_answer", "contains", "regex", "exact", "custom",
            "latency_ms", "cost_usd", "tokens", "run_id", "status", "error"} <= set(table.columns)
    assert table["contains"].all() and table["regex"].all() and not table["exact"].any()
    assert table["custom"].iloc[0] == pytest.approx(0.2)
    summary = result.summary.loc["baseline"]
    assert summary["contains"] == 1.0 and summary["exact"] == 0.0
    assert summary["exact_high"] == pytest.approx(0.2425, abs=1e-4)  # Wilson, 0 of 12: z²/12 / (1 + z²/12)
    assert summary["latency_ms_p50"] <= summary["latency_ms_p95"] <= summary["latency_ms_p99"]
    assert result.table.groupby("variant")["contains"].mean().loc["baseline"] == 1.0


def test_unknown_columns_and_missing_inputs_are_reported_before_any_call(fake_llm):
    wf = server_yaml(fake_llm.base_url)
    with pytest.raises(InputError) as info:
        am.evaluate(wf, [{"questoin": "x", "expected_anser": "y"}], progress=False)
    text = str(info.value)
    assert "did you mean `question`" in text and "did you mean `answer`" in text
    assert "required input `question` has no column" in text
    with pytest.raises(InputError, match="unknown metric `exat`.*did you mean `exact`"):
        am.evaluate(wf, questions(2), ["exat"], progress=False)
    with pytest.raises(InputError, match="no metric `acuracy`"):
        am.evaluate(wf, questions(2), gates=[{"metric": "acuracy", "min": 1}], progress=False)
    assert fake_llm.stats()["requests"] == 0


def test_data_from_csv_and_jsonl(tmp_path):
    wf = qa_yaml('{provider: mock, responses: ["Paris"]}')
    pd.DataFrame(questions(3)).to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame(questions(4)).to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    assert len(am.evaluate(wf, tmp_path / "d.csv", progress=False).rows) == 3
    result = am.evaluate(wf, str(tmp_path / "d.jsonl"), progress=False)
    assert len(result.rows) == 4 and result.summary.loc["baseline", "exact"] == 1.0
    with pytest.raises(InputError, match="does not exist"):
        am.evaluate(wf, tmp_path / "none.csv", progress=False)


def test_failing_rows_are_recorded_and_do_not_stop_the_evaluation(fake_llm):
    fake_llm.configure(rules=[{"match": "q3", "status": 400, "message": "bad request"},
                              {"content": "Paris"}])
    result = am.evaluate(server_yaml(fake_llm.base_url), questions(8), progress=False)
    failed = result.table[result.table["status"] != "succeeded"]
    assert list(failed["row"]) == [3]
    assert "bad request" in failed["error"].iloc[0]
    assert failed["exact"].isna().all()
    assert result.summary.loc["baseline", "error_rate"] == pytest.approx(1 / 8)
    assert result.summary.loc["baseline", "exact"] == 1.0  # scored over the rows that ran
    assert result.status == "succeeded"


def test_variants_run_on_the_same_rows_and_repeats_make_real_calls(fake_llm, monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_CACHE", "1")
    from agents_magic import _settings

    _settings.reset()
    fake_llm.configure(rules=[{"match": "Reply briefly", "content": "Rome"}, {"content": "Paris"}])
    variants = {"A": {}, "B": {"nodes.answer.prompt": "Reply briefly: {question}"}}
    result = am.evaluate(server_yaml(fake_llm.base_url), questions(6), variants=variants, repeats=2,
                         progress=False)
    assert fake_llm.stats()["requests"] == 6 * 2 * 2  # each repeat its own cache namespace
    assert sorted({(r["row"], r["repeat"]) for r in result.rows if r["variant"] == "A"}) == \
        sorted({(r["row"], r["repeat"]) for r in result.rows if r["variant"] == "B"})
    assert result.summary["exact"].to_dict() == {"A": 1.0, "B": 0.0}
    assert result.compare("A", "B").loc["exact", "n"] == 12
    again = am.evaluate(server_yaml(fake_llm.base_url), questions(6), variants=variants, repeats=2,
                        progress=False)
    assert fake_llm.stats()["requests"] == 24  # the second evaluation is served from the cache
    assert again.summary["exact"].to_dict() == {"A": 1.0, "B": 0.0}


def test_variants_from_config_ab_test():
    wf = qa_yaml('{provider: mock, responses: ["Paris"]}') + """\
  ab_test:
    run_count: 2
    variants:
      - {name: plain, prompt: "Answer: {question}", node_id: answer}
      - {name: rome, node_id: answer, config_overrides: {responses: ["Rome"]}}
"""
    result = am.evaluate(wf, questions(5), progress=False)
    assert result.variants == ["plain", "rome"] and result.config["repeats"] == 2
    assert result.summary["exact"].to_dict() == {"plain": 1.0, "rome": 0.0}
    assert result.winner.name == "plain"
    with pytest.raises(InputError, match="names no node `anser`.*did you mean `answer`"):
        am.evaluate(wf, questions(2), variants={"X": {"nodes.anser.prompt": "x"}}, progress=False)


def test_llm_judge_is_costed_apart_and_cached(fake_llm, monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_CACHE", "1")
    from agents_magic import _settings

    _settings.reset()
    fake_llm.configure(rules=[{"match": "RUBRIC", "content": '{"pass": true, "reason": "fine"}'},
                              {"content": "Paris"}])
    judge = {"provider": "openai", "model": "gpt-4o-mini", "api_base": fake_llm.base_url}
    wf = qa_yaml('{provider: mock, responses: ["Paris"]}')
    result = am.evaluate(wf, questions(4), ["exact", "llm_judge:Is the answer a city?"], judge=judge,
                         progress=False)
    assert result.table["llm_judge"].all()
    assert fake_llm.stats()["requests"] == 4
    assert result.summary.loc["baseline", "judge_cost_usd"] > 0
    assert result.summary.loc["baseline", "cost_usd_total"] == 0  # the mock workflow is free
    result = am.evaluate(wf, questions(4), ["llm_judge:Is the answer a city?"], judge=judge, progress=False)
    assert fake_llm.stats()["requests"] == 4 and result.summary.loc["baseline", "judge_cost_usd"] == 0


def test_rate_limited_endpoint_is_respected(fake_llm):
    """429s with Retry-After are absorbed by the shared limiter: every row ends well."""
    fake_llm.configure(rate_limit_rps=20, rules=[{"content": "Paris"}])
    result = am.evaluate(server_yaml(fake_llm.base_url), questions(60), concurrency=32,
                         progress=False)
    stats = fake_llm.stats()
    assert result.summary.loc["baseline", "error_rate"] == 0
    assert result.summary.loc["baseline", "exact"] == 1.0
    assert stats["rate_limited"] < stats["requests"] * 0.5  # no 429 storm
    from agents_magic.engine._limiter import limiters

    [snap] = [s for s in limiters() if s["api_base"] == fake_llm.base_url]
    assert snap["rate_limited_total"] == stats["rate_limited"]


def test_interrupt_returns_the_partial_result(fake_llm):
    fake_llm.configure(latency_ms=300, rules=[{"content": "Paris"}])
    seen = []

    def interrupt_after_four(row, outputs):
        seen.append(row["question"])
        if len(seen) == 4:  # as a kernel interrupt arrives: SIGINT to the main thread
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        return True

    result = am.evaluate(server_yaml(fake_llm.base_url), questions(40), [interrupt_after_four],
                         concurrency=2, progress=False)
    assert result.status == "cancelled"
    assert 4 <= len(result.rows) < 40
    assert all(r["status"] == "succeeded" for r in result.rows)
    assert result.summary.loc["baseline", "rows"] == len(result.rows)
    text = repr(result)
    assert f"cancelled, {len(result.rows)} of 40 rows" in text and "interrupted" in text


def test_an_interrupt_after_the_last_row_leaves_the_evaluation_succeeded():
    import asyncio

    from agents_magic.evaluation._executor import LocalExecutor

    class InterruptedAtTheEnd:
        """Every row runs; then an interrupt arrives before the evaluation returns."""

        async def map(self, tasks, work, done):
            await LocalExecutor(2).map(tasks, work, done)
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(30)  # cancelled by the interrupt

    wf = qa_yaml('{provider: mock, responses: ["Paris"]}')
    result = am.evaluate(wf, questions(4), executor=InterruptedAtTheEnd(), progress=False)
    assert len(result.rows) == 4 and result.status == "succeeded"
    assert "cancelled" not in repr(result)
