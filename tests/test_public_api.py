"""The public surface: one door, lazy heavy imports, reprs that name the package."""

from __future__ import annotations

import subprocess
import sys

import agents_magic as am

HEAVY = ("litellm", "langgraph", "langchain_core", "pandas", "plotly", "sqlalchemy", "mlflow")


def test_public_names_are_pinned():
    assert sorted(am.__all__) == sorted([
        "AgentsMagicError", "BudgetExceeded", "ConfigError", "InputError", "NodeOutputError",
        "ProviderError", "RunResult", "Workflow", "arun", "cost_figure", "cost_report", "estimate",
        "load", "profile", "profile_figure", "resume", "aresume", "run", "runs", "show_run",
        "memory", "tool", "EvalResult", "GateFailed", "evaluate", "evaluations",
        "load_evaluation", "runs_browser"])
    for name in am.__all__:
        assert getattr(am, name) is not None


def test_public_classes_say_they_belong_to_the_package():
    assert am.Workflow.__module__ == "agents_magic"
    assert am.RunResult.__module__ == "agents_magic"
    assert am.EvalResult.__module__ == "agents_magic"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "; import sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return {m.split(".")[0] for m in out.stdout.split()}


def test_import_and_load_pull_in_nothing_heavy():
    loaded = _modules_after("import agents_magic as am; from agents_magic.cli import EXAMPLE; am.load(EXAMPLE)")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_result_reprs():
    from agents_magic.cli import EXAMPLE

    result = am.run(am.load(EXAMPLE), {"text": "hello"})
    assert repr(result).startswith("RunResult(summarize succeeded")
    page = result._repr_html_()
    assert "<table>" in page and "summary" in page
    assert "<th style='text-align:left'>value</th>" in page  # output texts are not right-aligned
    # notebooks typeset $…$ as math: amounts are written as &#36; inside a block MathJax skips
    assert "$" not in page and "tokens · &#36;0" in page and "mathjax_ignore" in page
    assert result.to_pandas().equals(result.nodes)
    assert repr(am.load(EXAMPLE)).startswith("<Workflow 'summarize': 3 nodes")
