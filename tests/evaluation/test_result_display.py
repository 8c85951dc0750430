"""How an evaluation reads in a notebook: the judge, failures, partial results, mistakes."""

from __future__ import annotations

import re

import pytest
from eval_helpers import qa_yaml, server_yaml

import agents_magic as am
from agents_magic.errors import InputError

DATA = [{"question": f"q{i}", "expected_answer": "Paris"} for i in range(6)]
WITH_DEFAULT_LLM = qa_yaml("{provider: mock}").replace(
    "config:\n", 'config:\n  llm: {provider: mock, responses: ["Paris costs $5 or $6"]}\n')


def test_the_judge_defaults_to_the_workflows_llm_and_is_named_and_costed_apart():
    result = am.evaluate(WITH_DEFAULT_LLM.replace("    llm: {provider: mock}\n", ""), DATA,
                         ["contains", "llm_judge:Is it a city?"], progress=False)
    # the workflow's scripted answers are not verdicts: the mock judge gives readable ones
    assert result.table["llm_judge"].notna().all()
    assert result.config["judges"] == {"llm_judge": "mock/mock"}
    assert "judge_cost_usd" in result.summary.columns
    for page in (repr(result), result._repr_html_()):
        assert "judged by mock/mock" in page and "judge cost" in page


def test_without_any_llm_the_judge_error_names_the_parameter(fake_llm):
    with pytest.raises(InputError, match=r"`llm_judge` needs a judge model.*judge='provider/model'"):
        am.evaluate(server_yaml(fake_llm.base_url), DATA, ["llm_judge:Polite?"], progress=False)
    assert fake_llm.stats()["requests"] == 0
    result = am.evaluate(qa_yaml('{provider: mock, responses: ["Paris"]}'), DATA, ["llm_judge:Polite?"],
                         judge="mock", progress=False)
    assert result.config["judges"] == {"llm_judge": "mock/mock"} and len(result.rows) == 6


def test_six_metrics_fit_without_scrolling_and_dollars_are_not_math():
    six = ["exact", "contains", "regex:Paris", "numeric:0.5", "json_field:x",
           {"name": "short", "fn": lambda row, out: len(out["answer"]) < 40}]
    result = am.evaluate(WITH_DEFAULT_LLM, DATA, six, variants={"A": {}, "B": {}}, progress=False)
    page = result._repr_html_()
    assert "$" not in page and "&#36;" in page and "mathjax_ignore" in page
    header = re.search(r"<thead>(.*?)</thead>", page).group(1)
    assert header.count("<th") == 3  # a column per variant (and the labels), not per statistic
    for name in ("exact", "contains", "regex", "numeric", "json_field", "short"):
        assert f">{name}</th>" in page
    assert "overflow-x:auto" in page


def test_all_rows_failing_marks_the_evaluation_failed_and_says_why():
    wf = qa_yaml('{provider: openai, model: gpt-4o-mini, api_base: "http://127.0.0.1:9/v1"}')
    result = am.evaluate(wf.replace("max_retries: 2", "max_retries: 0"), DATA, progress=False)
    assert result.status == "failed" and len(result.rows) == 6
    text = repr(result)
    assert "failed, 6 rows (6 failed)" in text and "6 rows failed: " in text and "127.0.0.1:9" in text
    assert result.plot() is not None  # plots of failed rows draw, not crash


def test_compare_names_unknown_variants_with_did_you_mean():
    result = am.evaluate(qa_yaml('{provider: mock, responses: ["Paris"]}'), DATA,
                         variants={"A": {}, "B": {}}, progress=False)
    with pytest.raises(InputError, match=r"no variant `a` .*did you mean `A`\?.*variants: A, B"):
        result.compare("a", "B")
    with pytest.raises(InputError, match=r"no variant `C`"):
        result.compare("A", "C")
    with pytest.raises(InputError, match=r"no variant `b`"):
        result.variant_yaml("b")
    single = am.evaluate(qa_yaml('{provider: mock, responses: ["Paris"]}'), DATA, progress=False)
    with pytest.raises(InputError, match=r"compare needs two variants; .* has `baseline`"):
        single.compare()
    assert single.plot() is not None  # one variant plots


def test_zero_rows_are_reported_before_any_call(fake_llm):
    import pandas as pd

    with pytest.raises(InputError, match="the data has no rows"):
        am.evaluate(server_yaml(fake_llm.base_url), pd.DataFrame(columns=["question"]), progress=False)
    assert fake_llm.stats()["requests"] == 0


def test_the_winner_line_shows_names_as_code_not_backticks():
    result = am.evaluate(qa_yaml('{provider: mock, responses: ["Rome"]}'), DATA, ["contains"],
                         variants={"wrong": {}, "right": {"nodes.answer.llm.responses": ["Paris"]}},
                         progress=False)
    assert "`right`" in result.winner.explanation  # the text form keeps Markdown's backticks
    page = result._repr_html_()
    assert "<code>right</code>" in page and "`" not in page


def test_plot_axes_fit_free_runs_and_leave_room_for_variant_names():
    result = am.evaluate(qa_yaml('{provider: mock, responses: ["Paris"]}'), DATA, ["contains"],
                         variants={"A": {}, "B": {}}, progress=False)
    fig = result.plot()
    assert result.summary["cost_usd_avg"].eq(0).all()
    for row, col in ((1, 2), (2, 2)):
        assert fig.get_subplot(row, col).yaxis.rangemode == "nonnegative"  # no -1..1 cost axis
    top = fig.get_subplot(3, 2).yaxis.range[1]
    assert top >= result.summary["contains"].max() + 0.15  # the name above a point at 1 shows
    assert fig.get_subplot(1, 1).xaxis.ticksuffix == "%"
