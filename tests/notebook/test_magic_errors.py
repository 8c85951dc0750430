"""What a person sees when something is wrong: config mistakes, bad flags, failed and
interrupted runs."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from am_nb_helpers import SUMMARIZE, cell, two_step

BROKEN = """\
schema_version: "1.0"
flow: {name: broken}
state:
  fields:
    topic: {type: str, required: true}
nodes:
  - id: a
    promt: "hi {state.topic}"
    outputs: [summary]
edges:
  - {from: START, to: a}
  - {from: a, to: b}
"""


def shown(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_config_error_lists_every_problem_with_cell_lines_and_no_traceback(magic, capsys):
    result = magic.run_cell(cell("broken -i topic=x", BROKEN))
    err = result.error_in_exec
    assert type(err).__name__ == "ConfigError" and len(err.problems) == 3
    text = shown(capsys)
    assert "Traceback" not in text and "File " not in text
    assert text.startswith("ConfigError: 3 problems")
    # Lines as the user sees them: the %%workflow line is line 1, so `promt` is on line 9.
    assert 'line 9:5: unknown field `promt`' in text and 'promt: "hi {state.topic}"' in text
    assert "did you mean `prompt`?" in text
    assert "line 10:15: output `summary` is not declared" in text
    assert "line 13:19: edge to unknown node `b`" in text
    assert "broken" not in magic.user_ns  # nothing is defined from an invalid cell


def test_config_error_stops_run_all(magic):
    # error_in_exec set means "Run All" stops here, as for any failing cell.
    assert not magic.run_cell(cell("broken", BROKEN)).success


@pytest.mark.parametrize("source, expected", [
    (cell("summarize --bogus", SUMMARIZE), "unrecognized arguments: --bogus"),
    (cell("summarize --model", SUMMARIZE), "expected one argument"),
    ("%workflow lst", "unknown subcommand `lst` (did you mean `list`?)"),
    ("%workflow show", "the following arguments are required: name"),
    ("%workflow run nowhere", "no workflow named `nowhere`"),
    ("%workflow run -f missing.txt", "is not a .yaml/.yml file"),
    ('%workflow run summarize text="open', "close your quotes"),
    ("%workflow run summarize notakeyvalue", "expected an input as KEY=VALUE"),
])
def test_usage_errors_are_one_message_without_traceback(magic, capsys, source, expected):
    magic.run_cell(cell("summarize --no-run --quiet", SUMMARIZE))
    capsys.readouterr()
    result = magic.run_cell(source)
    assert type(result.error_in_exec).__name__ == "UsageError"
    text = shown(capsys)
    assert expected in text and "Traceback" not in text


def test_bad_flag_shows_the_usage_line(magic, capsys):
    magic.run_cell(cell("summarize --bogus", SUMMARIZE))
    assert "usage: %%workflow [-i K=V [K=V ...]] [--model MODEL]" in shown(capsys)
    magic.run_cell("%workflow graph --bogus")
    assert "usage: %workflow graph [-f FILE] [name]" in shown(capsys)


def test_missing_api_key_is_reported_once_before_any_call(magic, capsys):
    remote = SUMMARIZE.replace("llm: {provider: mock}", "llm: {provider: openai, model: gpt-4o}")
    result = magic.run_cell(cell("summarize -i text=x", remote))
    err = result.error_in_exec
    assert type(err).__name__ == "ProviderError" and err.kind == "auth"
    text = shown(capsys)
    assert "node `summarize`, `rate`, `polish` (openai/gpt-4o)" in text
    assert text.count("missing API key") == 1 and "Traceback" not in text
    assert "started" not in text


def test_rate_limit_failure_names_node_provider_model_cause_and_retries(magic, llm, capsys):
    llm.configure(rules=[{"status": 429, "message": "slow down"}])
    result = magic.run_cell_magic("workflow", "two -i topic=cats", two_step(llm.base_url, max_retries=2))
    assert result.status == "failed"
    assert "`review`" in result.error and "openai/fake-model" in result.error
    assert "rate_limit" in result.error and "3 attempts" in result.error
    # The partial result is kept: the first node's output is there.
    assert result.outputs["draft"].startswith("Mock reply")
    assert list(result.nodes["status"]) == ["succeeded", "failed"]
    text = shown(capsys)
    assert text.count("↻ review attempt") == 2 and "rate limit: HTTP 429: slow down" in text
    assert "✗ review failed" in text and "after 3 attempts" in text
    assert "hint: wait, or lower config.execution.max_concurrency" in text
    assert "two · failed in" in text
    assert len(llm.requests()) == 3


def test_timeout_failure(magic, llm, capsys):
    llm.configure(latency_ms=2000)
    result = magic.run_cell_magic("workflow", "two -i topic=cats",
                                  two_step(llm.base_url, max_retries=0, timeout=0.2))
    assert result.status == "failed" and "timeout" in result.error
    assert "raise config.execution.timeout" in shown(capsys)


def test_auth_failure_from_the_server(magic, llm, capsys):
    llm.configure(rules=[{"status": 401, "message": "bad key"}])
    result = magic.run_cell_magic("workflow", "two -i topic=cats", two_step(llm.base_url))
    assert result.status == "failed" and "auth" in result.error
    assert len(llm.requests()) == 1  # auth errors are not retried
    assert "check the API key" in shown(capsys)


def test_invalid_output_failure(magic, capsys):
    invalid = SUMMARIZE.replace(
        "    outputs: [score, keywords]\n",
        "    outputs: [score, keywords]\n    llm: {provider: mock, responses: [\"not json\"]}\n")
    result = magic.run_cell_magic("workflow", "summarize -i text=x", invalid)
    assert result.status == "failed"
    assert "`rate`" in result.error and "invalid_output" in result.error
    assert result.outputs["summary"]  # the first node's work is kept
    assert "invalid output" in shown(capsys)


def test_a_quiet_failed_run_is_the_cell_value_even_with_out(magic, llm):
    llm.configure(rules=[{"status": 401}])
    returned = magic.run_cell_magic("workflow", "two -i topic=x --out res --quiet", two_step(llm.base_url))
    assert returned is magic.user_ns["res"] and returned.status == "failed"


def test_with_out_a_failed_run_shows_its_progress_only_as_a_succeeded_run_does(magic, llm, capsys):
    llm.configure(rules=[{"status": 401}])
    plain = magic.run_cell(cell("two -i topic=x", two_step(llm.base_url)))
    assert plain.result.status == "failed" and "RunResult(two failed" in shown(capsys)
    failed = magic.run_cell(cell("two -i topic=x --out res", two_step(llm.base_url)))
    text = shown(capsys)
    assert failed.error_in_exec is None and failed.result is None
    assert magic.user_ns["res"].status == "failed" and "HTTP 401" in magic.user_ns["res"].error
    assert "two · failed in" in text and "✗ review failed" in text  # the progress says it
    assert "RunResult(" not in text
    llm.reset()
    succeeded = magic.run_cell(cell("two -i topic=x --out res", two_step(llm.base_url)))
    assert succeeded.result is None and magic.user_ns["res"].status == "succeeded"
    assert "RunResult(" not in shown(capsys)


def test_interrupt_cancels_the_run_and_the_shell_stays_usable(magic):
    slow = SUMMARIZE.replace("llm: {provider: mock}", "llm: {provider: mock, params: {latency_ms: 10000}}")
    # How fast cancelling is, is measured by benchmarks/bench_notebook.py, not asserted here.
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        result = magic.run_cell_magic("workflow", "summarize -i text=x --quiet", slow)
    finally:
        timer.cancel()
    assert result.status == "cancelled"
    assert magic.run_cell_magic("workflow", "summarize -i text=x --quiet", SUMMARIZE).ok
