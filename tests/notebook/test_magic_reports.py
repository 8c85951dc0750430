"""``%workflow runs / cost / profile / show-run / estimate / mlflow``: reports over the run store,
driven through an InteractiveShell with the store on in a private data directory."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from am_nb_helpers import cell, load_ext, run

PAID = """\
schema_version: "1.0"
flow: {{name: paid}}
state:
  fields:
    topic: {{type: str, required: true}}
    draft: {{type: str, default: ""}}
    review: {{type: str, default: ""}}
nodes:
  - {{id: draft, prompt: "Draft a note about {{state.topic}}", outputs: [draft]}}
  - {{id: review, prompt: "Review this draft: {{state.draft}}", outputs: [review]}}
edges:
  - {{from: START, to: draft}}
  - {{from: draft, to: review}}
  - {{from: review, to: END}}
config:
  llm: {{provider: openai, model: gpt-4o-mini, api_base: "{base_url}"}}
  execution: {{max_retries: 0, timeout: 5}}
"""

# `summarize` is slow on purpose (the profile's bottleneck); `rate` never replies with JSON,
# so it fails after its one repair request.
BROKEN = """\
schema_version: "1.0"
flow: {name: broken}
state:
  fields:
    text: {type: str, required: true}
    summary: {type: str, default: ""}
    score: {type: int, default: 0}
nodes:
  - id: summarize
    prompt: "Summarise: {state.text}"
    outputs: [summary]
    llm: {provider: mock, params: {latency_ms: 300}}
  - id: rate
    prompt: "Rate: {state.summary}"
    outputs: [score]
    output_schema: {type: object, fields: [{name: score, type: int}]}
    llm: {provider: mock, responses: ["not json"]}
edges:
  - {from: START, to: summarize}
  - {from: summarize, to: rate}
  - {from: rate, to: END}
config:
  llm: {provider: mock}
"""


@pytest.fixture
def store_on(ip, monkeypatch):
    """The extension loaded with the run store and the LLM cache on (in this test's data dir);
    every sink, cache and store engine the test opened is closed afterwards."""
    from agents_magic import _settings
    from agents_magic.sinks import close_sinks
    from agents_magic.store._cache import close_caches
    from agents_magic.store._db import close_stores

    monkeypatch.setenv("AGENTS_MAGIC_STORE", "1")
    monkeypatch.setenv("AGENTS_MAGIC_CACHE", "1")
    _settings.reset()
    load_ext(ip)
    yield ip
    close_sinks()
    close_caches()
    close_stores()


@pytest.fixture
def shown(store_on, monkeypatch) -> list[Any]:
    """What the magics display besides the value they return (charts, notes)."""
    displayed: list[Any] = []
    monkeypatch.setattr(store_on.magics_manager.registry["AgentsMagic"], "_show", displayed.append)
    return displayed


@pytest.fixture
def history(store_on, fake_llm):
    """Three recorded runs, oldest first: `paid` (priced calls), `paid` again (all cached),
    `broken` (failed). Nothing here flushes the store: the reports must wait for it."""
    run(store_on, cell("paid --no-run --quiet", PAID.format(base_url=fake_llm.base_url)))
    first = store_on.run_line_magic("workflow", 'run paid topic="<b>cats</b>" --quiet')
    again = store_on.run_line_magic("workflow", 'run paid topic="<b>cats</b>" --quiet')
    failed = store_on.run_cell_magic("workflow", "broken -i text=x --quiet", BROKEN)
    assert (first.status, again.status, failed.status) == ("succeeded", "succeeded", "failed")
    assert first.cost_usd > 0 and again.cost_usd == 0  # the second run replays the cache
    assert len(fake_llm.requests()) == 2
    return [first, again, failed]


def ids(frame: Any) -> list[str]:
    return list(frame["run_id"])


def test_runs_lists_them_newest_first_with_filters(store_on, history):
    first, again, failed = history
    frame = store_on.run_line_magic("workflow", "runs")
    assert ids(frame) == [failed.run_id, again.run_id, first.run_id]
    assert list(frame["status"]) == ["failed", "succeeded", "succeeded"]
    assert list(frame["cached"]) == [0, 2, 0] and list(frame["failed"]) == [1, 0, 0]
    assert frame["cost_usd"].tolist() == pytest.approx([0.0, 0.0, first.cost_usd])
    assert ids(store_on.run_line_magic("workflow", "runs --last 1")) == [failed.run_id]
    assert ids(store_on.run_line_magic("workflow", "runs --name paid")) == [again.run_id,
                                                                             first.run_id]
    assert ids(store_on.run_line_magic("workflow", "runs --status failed --name broken")) == [
        failed.run_id]
    assert store_on.run_line_magic("workflow", "runs --name nothing").empty


def test_runs_fit_a_cell_and_default_to_this_session(store_on, history, monkeypatch):
    from agents_magic import _reports

    frame = store_on.run_line_magic("workflow", "runs")
    assert list(frame.columns) == ["run_id", "workflow", "status", "started", "ms", "tokens",
                                   "cost_usd", "nodes", "cached", "failed", "error"]
    assert all(len(s) == 19 for s in frame["started"])  # to the second, no nanoseconds
    assert str(frame["ms"].dtype) == "Int64"
    monkeypatch.setattr(_reports, "this_session", lambda: "another-kernel")
    assert store_on.run_line_magic("workflow", "runs").empty
    assert store_on.run_line_magic("workflow", "cost").empty
    assert len(store_on.run_line_magic("workflow", "runs --all")) == 3
    assert len(store_on.run_line_magic("workflow", "runs --name paid")) == 2  # a workflow: all runs
    assert len(store_on.run_line_magic("workflow", "cost --all --by workflow")) == 2


def test_cost_by_node_matches_the_run_results_and_draws_a_chart(store_on, history, shown):
    frame = store_on.run_line_magic("workflow", "cost --by node")
    assert frame.attrs["by"] == "node"
    assert frame["cost_usd"].sum() == pytest.approx(sum(r.cost_usd for r in history))
    by_node = frame.set_index(["workflow", "node_id"])
    for row in history[0].node_rows:  # the paid run; its re-run was cached, so free
        assert by_node.loc[("paid", row["node_id"]), "cost_usd"] == pytest.approx(row["cost_usd"])
        assert by_node.loc[("paid", row["node_id"]), ["calls", "cached_calls"]].tolist() == [2, 1]
    assert by_node.loc[("broken", "rate"), "failed_calls"] == 1
    (figure,) = shown
    assert type(figure).__name__ == "Figure" and figure.layout.title.text == "Cost by node"
    assert len(figure.data[0].x) == len(frame)
    by_workflow = store_on.run_line_magic("workflow", "cost --by workflow --since 1h")
    assert by_workflow.set_index("workflow")["runs"].to_dict() == {"paid": 2, "broken": 1}


def test_without_plotly_or_in_a_terminal_a_note_replaces_the_chart(store_on, history, shown,
                                                                   monkeypatch):
    magics = store_on.magics_manager.registry["AgentsMagic"]
    monkeypatch.setattr(magics, "_charts", lambda: False)  # a terminal: plotly would open a browser
    assert len(store_on.run_line_magic("workflow", "profile")) == 2
    assert "agents_magic.profile_figure(_).show()" in repr(shown[0])
    assert "agents_magic.percentile_figure(_).show()" in repr(shown[2])
    shown.clear()
    monkeypatch.setattr(magics, "_charts", lambda: True)
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    frame = store_on.run_line_magic("workflow", "cost")
    assert list(frame["provider"]) == ["openai", "mock"]  # most expensive first
    (note,) = shown
    assert "pip install 'agents_magic[plotly]'" in repr(note)


def test_profile_of_the_last_run_flags_the_bottleneck(store_on, history, shown):
    first, _, failed = history
    # 300 ms of a run that did little else; a quarter leaves room for a busy machine's pauses
    frame = store_on.run_line_magic("workflow", "profile --threshold 0.25")
    assert frame.attrs["run_id"] == failed.run_id
    assert len(frame) == len(failed.node_rows) == 2  # one row per node execution
    assert list(frame["node_id"]) == ["summarize", "rate"]
    assert list(frame["bottleneck"]) == [True, False]
    figure, spread, percentiles = shown
    assert type(figure).__name__ == "Figure"
    assert [trace.name for trace in figure.data if trace.name == "bottleneck"] == ["bottleneck"]
    # the workflow's runs so far: one, so every percentile is that run's time
    assert spread.set_index("node_id").loc["summarize", "executions"] == 1
    row = spread.set_index("node_id").loc["summarize"]
    assert row["p50_ms"] == row["p95_ms"] == row["p99_ms"] == pytest.approx(frame["duration_ms"][0], abs=0.1)
    assert [t.name for t in percentiles.data] == ["p50", "p95", "p99"]
    earlier = store_on.run_line_magic("workflow", f"profile {first.run_id[:10]} --threshold 1")
    assert earlier.attrs["run_id"] == first.run_id and not earlier["bottleneck"].any()
    assert list(earlier["node_id"]) == ["draft", "review"]


def test_show_run_has_inputs_outputs_prompts_and_responses(store_on, history):
    first, _, failed = history
    view = store_on.run_line_magic("workflow", f"show-run {first.run_id}")
    text = repr(view)
    assert text.startswith(f"paid succeeded · run {first.run_id}")
    assert "topic = <b>cats</b>" in text and "Draft a note about <b>cats</b>" in text
    assert f"    {first.outputs['draft']}" in text  # the draft node's response
    page = view._repr_html_()
    assert "Draft a note about &lt;b&gt;cats&lt;/b&gt;" in page and "<b>cats</b>" not in page
    # only the input given is listed (draft and review were left at their empty defaults) ...
    inputs = text.split("inputs:\n", 1)[1].split("outputs:", 1)[0]
    assert inputs.strip() == "topic = <b>cats</b>"
    assert "<code>draft</code>" not in page.split("<th style='text-align:left;vertical-align:top'>outputs")[0]
    # ... and text is left-aligned, not right-aligned as notebooks draw table cells
    assert page.count("text-align:left") >= 4
    last = repr(store_on.run_line_magic("workflow", "show-run"))
    assert last.startswith("broken failed") and "not json" in last and "error:" in last


def test_estimate_calls_no_llm(magic, fake_llm):
    run(magic, cell("paid --no-run --quiet", PAID.format(base_url=fake_llm.base_url)))
    view = magic.run_line_magic("workflow", 'estimate paid topic="kittens and cats"')
    assert 0 < view.min_usd <= view.max_usd
    assert list(view.nodes["node_id"]) == ["draft", "review"]
    assert "no LLM was called" in repr(view) and "assumptions:" in repr(view)
    assert "<table" in view._repr_html_()
    partial = magic.run_line_magic("workflow", "estimate paid --model gpt-4o")
    assert "inputs not given (counted as empty): topic" in repr(partial)
    assert partial.max_usd > view.max_usd  # gpt-4o costs more than gpt-4o-mini
    result = magic.run_cell("%workflow estimate paid topik=cats")
    assert type(result.error_in_exec).__name__ == "InputError"
    assert "did you mean `topic`?" in str(result.error_in_exec)
    assert fake_llm.requests() == []


def test_mlflow_gives_the_ui_command_and_whether_logging_is_on(magic):
    note = repr(magic.run_line_magic("workflow", "mlflow"))
    assert "mlflow ui" in note and "--backend-store-uri" in note
    assert "logging is off" in note and "%config AgentsMagic.mlflow = True" in note
    run(magic, "%config AgentsMagic.mlflow = True")
    assert "logging is on" in repr(magic.run_line_magic("workflow", "mlflow"))


@pytest.mark.parametrize("sub", ["runs", "cost", "profile", "show-run"])
def test_reports_with_the_store_off_say_how_to_turn_it_on(magic, capsys, tmp_path, sub):
    result = magic.run_cell(f"%workflow {sub}")
    assert result.error_in_exec is None
    assert "%config AgentsMagic.store = True" in repr(result.result)
    assert "Traceback" not in capsys.readouterr().out
    assert not list(tmp_path.rglob("runs.db"))  # nothing was created


def test_a_store_with_no_runs_is_reported_without_traceback(store_on, capsys):
    assert store_on.run_line_magic("workflow", "runs").empty
    result = store_on.run_cell("%workflow show-run")
    assert type(result.error_in_exec).__name__ == "ReportError"
    captured = capsys.readouterr()
    assert "no runs yet" in captured.out + captured.err and "Traceback" not in captured.out


@pytest.mark.parametrize("line, expected", [
    ("runs --bogus", "usage: %workflow runs [--name N] [--last K] [--status S]"),
    ("runs --last 0", "expected a positive whole number of runs"),
    ("runs --status done", "invalid choice: 'done'"),
    ("cost --by colour", "usage: %workflow cost [--by {provider,model,node,workflow}]"),
    ("cost --since someday", "cannot read `since='someday'`"),
    ("profile --threshold 2", "usage: %workflow profile"),
    ("show-run a b", "usage: %workflow show-run [RUN_ID]"),
    ("mlflow --ui", "usage: %workflow mlflow"),
    ("estimate", "which workflow? give its NAME or -f FILE.yaml"),
    ("show_run", "unknown subcommand `show_run` (did you mean `show-run`?)"),
])
def test_bad_options_give_the_usage_line(magic, capsys, line, expected):
    result = magic.run_cell(f"%workflow {line}")
    assert type(result.error_in_exec).__name__ == "UsageError"
    text = capsys.readouterr()
    output = text.out + text.err
    assert expected in output and "Traceback" not in output


def test_help_and_completion_offer_the_new_subcommands(magic):
    from IPython.core.completer import provisionalcompleter

    from agents_magic import _reports
    from agents_magic.notebook import _magics

    text = repr(magic.run_line_magic("workflow", "help"))
    for usage in ("%workflow estimate NAME", "%workflow runs [--name N]", "%workflow cost [--by",
                  "%workflow profile [RUN_ID]", "%workflow show-run [RUN_ID]", "%workflow mlflow"):
        assert usage in text
    assert repr(magic.run_line_magic("workflow", "help show-run")).startswith(
        "%workflow show-run [RUN_ID]")
    assert _magics.COST_BY == _reports.COST_BY

    def complete(line: str) -> list[str]:
        with provisionalcompleter():
            return [c.text for c in magic.Completer.completions(line, len(line))]

    assert {"estimate", "runs", "cost", "profile", "show-run", "mlflow"} <= set(complete("%workflow "))
    assert complete("%workflow sh") == ["show", "show-run"]
    assert complete("%workflow help show-") == ["show-run"]
    assert complete("%workflow cost --by n") == ["node"]
    assert complete("%workflow runs --status c") == ["cancelled"]
    run(magic, cell("broken --no-run --quiet", BROKEN))
    assert complete("%workflow estimate br") == ["broken"]
    assert complete("%workflow runs --name b") == ["broken"]


def test_unload_closes_the_sinks_only_if_a_run_opened_them(store_on):
    from agents_magic import sinks

    assert store_on.run_cell_magic("workflow", "broken -i text=x --quiet", BROKEN).status == "failed"
    assert sinks._shared  # the run opened the store's sink
    store_on.extension_manager.unload_extension("agents_magic")
    assert not sinks._shared
    store_on.extension_manager.load_extension("agents_magic")
    saved = sys.modules.pop("agents_magic.sinks")  # as in a session that has not run anything
    try:
        store_on.extension_manager.unload_extension("agents_magic")
        assert "agents_magic.sinks" not in sys.modules  # not imported just to close nothing
    finally:
        sys.modules["agents_magic.sinks"] = saved


def test_resume_the_last_failed_run_with_a_fixed_workflow(store_on, history):
    *_, failed = history
    fixed = BROKEN.replace('responses: ["not json"]', "responses: ['{\"score\": 8}']")
    run(store_on, cell("fixed --no-run --quiet", fixed))
    result = store_on.run_line_magic("workflow", f"resume {failed.run_id[:8]} --with fixed --quiet")
    assert result.status == "succeeded" and result.run_id == failed.run_id
    assert result.outputs["score"] == 8
    # `summarize` (300 ms) was not run again: one execution of it in the whole run
    assert list(result.nodes["node_id"]).count("summarize") == 1
    again = store_on.run_cell("%workflow resume " + failed.run_id)
    assert "is `succeeded`: only a failed" in str(again.error_in_exec)


def test_an_empty_session_says_where_the_earlier_runs_are(store_on, history, shown, monkeypatch):
    from agents_magic import _reports

    monkeypatch.setattr(_reports, "this_session", lambda: "a-fresh-kernel")
    assert store_on.run_line_magic("workflow", "runs").empty
    assert store_on.run_line_magic("workflow", "cost").empty
    notes = [str(n) for n in shown]
    assert notes == [
        "No runs in this session yet; `%workflow runs --all` lists every recorded run.",
        "No LLM calls are recorded in this session yet; `%workflow cost --all` covers every "
        "recorded run."]
    shown.clear()
    assert len(store_on.run_line_magic("workflow", "runs --all")) == 3
    assert store_on.run_line_magic("workflow", "runs --name nothing").empty
    assert shown == []  # a filter that matches nothing needs no pointer to --all


def test_a_run_id_can_come_from_the_notebook_as_other_arguments_do(store_on):
    failed = store_on.run_cell_magic("workflow", "broken -i text=x --quiet --out failed", BROKEN)
    assert failed.status == "failed" and store_on.user_ns["failed"] is failed
    run(store_on, cell("fixed --no-run --quiet",
                       BROKEN.replace('responses: ["not json"]', "responses: ['{\"score\": 8}']")))
    # As typed in a cell: `{expr}` and `$var` stand for the value (the magic expands them itself).
    shown = store_on.run_cell("%workflow show-run {failed.run_id}")
    assert shown.error_in_exec is None and failed.run_id in repr(shown.result)
    resumed = store_on.run_cell("%workflow resume {failed.run_id} --with fixed --quiet")
    assert resumed.error_in_exec is None, resumed.error_in_exec
    assert resumed.result.status == "succeeded" and resumed.result.run_id == failed.run_id
    store_on.user_ns["rid"] = failed.run_id
    again = store_on.run_cell("%workflow resume $rid")
    assert "is `succeeded`: only a failed" in str(again.error_in_exec)
    missing = store_on.run_cell("%workflow resume {nothing.run_id}")
    assert "`{nothing.run_id}` is not defined in the notebook" in str(missing.error_in_exec)
