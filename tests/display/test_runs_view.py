"""The runs browser without a front end: its table, and what selecting one or two runs shows."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

import agents_magic as am
from agents_magic.display._assets import asset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebook"))
from am_nb_helpers import two_step  # noqa: E402


def _good_then_failed_run(monkeypatch: pytest.MonkeyPatch, fake_llm: Any) -> tuple[Any, Any]:
    """Two stored runs of two_step: one that succeeded, then one whose review failed."""
    from agents_magic import _settings
    from agents_magic.sinks import flush_sinks

    monkeypatch.setenv("AGENTS_MAGIC_STORE", "1")
    _settings.reset()
    wf = am.load(two_step(fake_llm.base_url, max_retries=0))
    good = am.run(wf, {"topic": "x"})
    fake_llm.configure(rules=[{"match": "Review", "status": 500, "message": "boom"}])
    bad = am.run(wf, {"topic": "x"})
    flush_sinks(kind="store")
    return good, bad


def test_selecting_runs_shows_their_views_and_differences(monkeypatch: pytest.MonkeyPatch,
                                                          fake_llm: Any) -> None:
    from agents_magic.display.runs_view import RunsBrowser

    good, bad = _good_then_failed_run(monkeypatch, fake_llm)

    browser = RunsBrowser()
    assert [r["run_id"] for r in browser.runs] == [bad.run_id, good.run_id]  # newest first
    assert browser.runs[0]["status"] == "failed" and len(browser.runs[0]["started"]) == 19
    browser.selected = [good.run_id]  # as the front end sets it
    assert [v.status for v in browser.views] == ["succeeded"] and browser.diff == []
    browser.selected = [good.run_id, bad.run_id]
    assert [v.status for v in browser.views] == ["succeeded", "failed"]
    review = next(row for row in browser.diff if row["node"] == "review")
    assert review["a"]["state"] == "succeeded" and review["b"]["state"] == "failed"
    assert {"state", "outputs", "response"} <= set(review["changed"])
    assert review["a"]["prompt"].startswith("Review")
    assert review["a"]["response"] and not review["b"]["response"]
    spread = {row["node_id"]: row for row in browser.percentiles}  # both runs of two_step
    assert spread["draft"]["executions"] == 2 and spread["review"]["executions"] == 2
    assert spread["draft"]["p50_ms"] <= spread["draft"]["p95_ms"] <= spread["draft"]["p99_ms"]
    only = am.runs_browser(name="nothing-by-this-name")  # the public door, filtered by workflow
    assert isinstance(only, RunsBrowser) and only.runs == []
    assert re.search(r"export \{[^}]*\bas default\b", asset("runs_view.js").read_text())


def test_the_output_bundle_holds_a_static_picture_of_the_runs_and_their_differences(
        monkeypatch: pytest.MonkeyPatch, fake_llm: Any) -> None:
    from IPython.core.formatters import DisplayFormatter

    from agents_magic.display.runs_view import RunsBrowser

    good, bad = _good_then_failed_run(monkeypatch, fake_llm)

    def bundle(browser: RunsBrowser) -> dict[str, Any]:
        data, _ = DisplayFormatter().format(browser)  # what IPython puts in the output
        return data

    data = bundle(RunsBrowser())
    assert "application/vnd.jupyter.widget-view+json" in data and data["text/plain"] == "runs browser: 2 runs"
    html = data["text/html"]
    assert good.run_id[:12] in html and bad.run_id[:12] in html
    assert html.index(bad.run_id[:12]) < html.index(good.run_id[:12])  # newest first, as listed
    assert ">failed<" in html and ">succeeded<" in html and "two_step" in html
    assert "mathjax_ignore" in html and "&#36;0</" in html and "$" not in html
    assert "<script" not in html and "differences" not in html

    browser = RunsBrowser(name="two_step")
    browser.selected = [good.run_id, bad.run_id]
    html = bundle(browser)["text/html"]
    diff = html[html.index("differences"):]
    review = re.findall(r"<tr><td><code>review</code></td><td>(\w+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", diff)
    assert ("state", "succeeded", "failed") in review
    assert {"outputs", "response"} <= {field for field, _, _ in review}
    assert "<code>draft</code></td><td>state" not in diff  # only what differs is listed
    assert html.count('style="font-weight:bold"') == 2  # the two selected runs
    assert html.count("am-run-static") == 2 and "#ffebe9" in html  # both views, the failed one red


def test_a_time_differs_only_beyond_timing_noise() -> None:
    from agents_magic.display.runs_view import differs

    assert not differs("duration_ms", 252.3, 252.1)  # was drawn "0.25 → 0.25", in orange
    assert not differs("duration_ms", 409.1, 404.8) and not differs("duration_ms", 3.0, 15.0)
    assert differs("duration_ms", 250.0, 400.0) and differs("duration_ms", 0.0, 90.0)
    assert differs("duration_ms", None, 10.0) and differs("tokens", 35, 34)
    assert not differs("outputs", "x", "x") and differs("state", "succeeded", "failed")
