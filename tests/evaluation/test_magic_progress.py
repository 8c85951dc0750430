"""`%workflow eval` in an IPython shell, and the live progress line."""

from __future__ import annotations

from typing import Any

import pytest
from eval_helpers import qa_yaml

from agents_magic.evaluation._progress import EvalProgress


@pytest.fixture
def ip() -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from agents_magic import _settings

    _settings.reset()
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.extension_manager.load_extension("agents_magic")
    yield shell
    shell.extension_manager.unload_extension("agents_magic")
    from agents_magic.notebook import _magics

    _magics._registries.pop(shell, None)
    shell.reset(new_session=False)


def test_eval_magic_with_notebook_data_metric_and_variants(ip, capsys):
    ip.run_cell_magic("workflow", "qa --no-run", qa_yaml('{provider: mock, responses: ["Paris"]}'))
    ip.user_ns["df"] = [{"question": f"q{i}", "expected_answer": "Paris"} for i in range(5)]
    ip.user_ns["short"] = lambda row, outputs: len(outputs["answer"]) < 10
    ip.user_ns["vs"] = {"A": {}, "B": {"nodes.answer.llm.responses": ["Rome"]}}
    result = ip.run_line_magic("workflow", "eval qa --data df --metric exact --metric short "
                                           "--variants vs --repeats 2 --name trial --quiet")
    assert type(result).__name__ == "EvalResult" and result.name == "trial"
    assert result.summary["exact"].to_dict() == {"A": 1.0, "B": 0.0}
    assert result.summary["short"].tolist() == [1.0, 1.0]
    assert len(result.rows) == 20
    ip.run_line_magic("workflow", "eval qa --data df --out res --quiet")
    assert ip.user_ns["res"].summary.loc["baseline", "exact"] == 1.0


def test_eval_magic_reports_mistakes_without_a_traceback(ip, capsys, tmp_path):
    ip.run_cell_magic("workflow", "qa --no-run", qa_yaml())
    ip.user_ns["df"] = [{"question": "q", "expected_answr": "x"}]
    outcome = ip.run_cell("%workflow eval qa --data df --quiet")
    assert type(outcome.error_in_exec).__name__ == "InputError"
    assert "`expected_answr` expects `answr`" in str(outcome.error_in_exec)
    assert "did you mean `answer`" in str(outcome.error_in_exec)
    outcome = ip.run_cell("%workflow eval qa --quiet")
    assert "--data" in str(outcome.error_in_exec)
    outcome = ip.run_cell("%workflow eval qa --data df --variants nothing")
    assert "must name a dict" in str(outcome.error_in_exec)


def test_progress_line_counts_rows_failures_cost_and_eta():
    now = [100.0]
    shown: list[Any] = []

    class Handle:
        def update(self, bundle: dict, raw: bool) -> None:
            shown.append(bundle["text/plain"])

    def display(bundle: dict, **_: Any) -> Handle:
        shown.append(bundle["text/plain"])
        return Handle()

    view = EvalProgress("trial", 4, ["A"], set(), "update", clock=lambda: now[0], display=display)
    row = {"variant": "A", "status": "succeeded", "cost_usd": 0.25, "judge_cost_usd": 0.05,
           "latency_ms": 10.0}
    view.row(row)
    now[0] += 2
    view.refresh()
    assert shown[-1].startswith("eval trial · running · 1/4 rows · 0 failed · $0.3 · 2.0s · ETA 6s")
    view.row({**row, "status": "failed"})
    view.refresh()  # too soon: not redrawn
    assert len(shown) == 1
    now[0] += 1
    view.refresh(final=True)
    assert "finished · 2/4 rows · 1 failed" in shown[-1]
    view.stop()
    with pytest.raises(KeyboardInterrupt):  # the Stop button stops the evaluation
        view.refresh()


def test_eval_magic_data_name_typo_did_you_mean_and_judge_flag(ip, tmp_path):
    from agents_magic.errors import InputError

    ip.run_cell_magic("workflow", "qa --no-run", qa_yaml('{provider: mock, responses: ["Paris"]}'))
    ip.user_ns["frame"] = [{"question": "q", "expected_answer": "Paris"}]
    with pytest.raises(InputError, match=r"--data `frme` is neither .* \(did you mean `frame`\?\)"):
        ip.run_line_magic("workflow", "eval qa --data frme --quiet")
    with pytest.raises(InputError, match="data file .*missing.csv` does not exist"):
        ip.run_line_magic("workflow", f"eval qa --data {tmp_path / 'missing.csv'} --quiet")
    result = ip.run_line_magic("workflow", "eval qa --data frame --metric llm_judge:ok? --judge mock --quiet")
    assert result.config["judges"] == {"llm_judge": "mock/mock"}
    assert "--judge" in repr(ip.run_line_magic("workflow", "help eval"))


def test_eval_tab_completion_offers_datasets_variants_and_metrics(ip):
    import pandas as pd
    from IPython.core.completer import provisionalcompleter

    from agents_magic.evaluation._metrics import KINDS
    from agents_magic.notebook._magics import METRIC_KINDS

    assert METRIC_KINDS == KINDS
    ip.run_cell_magic("workflow", "qa --no-run", qa_yaml())
    ip.run_cell("questions = [{'question': 'q'}]\nframe = None\nvs = {'A': {}, 'B': {}}\n"
                "def short(row, out):\n    return True\n")
    ip.user_ns["frame"] = pd.DataFrame([{"question": "q"}])

    def complete(line: str) -> list[str]:
        with provisionalcompleter():
            return [c.text for c in ip.Completer.completions(line, len(line))]

    assert "eval" in complete("%workflow ev")
    assert complete("%workflow eval q") == ["qa"]
    assert sorted(complete("%workflow eval qa --data ")) == ["frame", "questions"]
    assert complete("%workflow eval qa --variants ") == ["vs"]
    assert complete("%workflow eval qa --metric sh") == ["short"]
    assert complete("%workflow eval qa --metric ll") == ["llm_judge"]
    assert "--judge" in complete("%workflow eval qa --ju")


def test_the_widget_shows_its_status_at_once_and_the_curves_with_the_first_rows() -> None:
    shown: list[Any] = []
    updates: list[dict[str, Any]] = []

    class Handle:
        def update(self, obj: Any) -> None:
            updates.append(obj._repr_mimebundle_())

    def display(obj: Any, **options: Any) -> Handle:
        assert options == {"display_id": True}
        shown.append(obj)
        return Handle()

    view = EvalProgress("qa-eval", 3, ["A", "B"], set(), "widget", display=display)
    view.refresh()
    (shown_widget,) = shown
    box = shown_widget.box
    (status, stop), curve = box.children[0].children, box.children[1]
    assert status.value.startswith("eval qa-eval · running · 0/3 rows") and not stop.disabled
    assert curve.value == ""  # no row done, no curve yet
    for ms in (100.0, 300.0):
        view.row({"status": "succeeded", "cost_usd": 0.0, "judge_cost_usd": 0.0, "variant": "A",
                  "latency_ms": ms})
    view.refresh(final=True, status="succeeded")
    assert status.value.startswith("eval qa-eval · succeeded · 2/3 rows") and stop.disabled
    assert stop.layout.display == "none"
    assert curve.value.count("<polyline") == 1 and ">A</title>" in curve.value
    assert ">300</text>" in curve.value  # the y axis reaches the slowest row
    # The final state is pushed into the output, so a saved notebook shows it without widgets.
    (bundle,) = updates
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("eval qa-eval · succeeded · 2/3 rows · 0 failed · $0 · ")
    assert "VBox" not in bundle["text/plain"]
    html = bundle["text/html"]
    assert "eval qa-eval · succeeded · 2/3 rows" in html and "&#36;0 · " in html
    assert "<svg" in html and "<polyline" in html and "mathjax_ignore" in html


def test_curve_svg_draws_one_line_per_variant_with_rows() -> None:
    from agents_magic.evaluation._curve_svg import curve_svg
    from agents_magic.evaluation._plots import percentile_curve

    assert curve_svg({"A": [], "B": []}) == ""
    svg = curve_svg({"A": percentile_curve([10.0, 20.0]), "B <x>": percentile_curve([5.0]), "C": []})
    assert svg.startswith("<svg") and svg.count("<polyline") == 2
    assert "B &lt;x&gt;" in svg and "<x>" not in svg  # names are escaped
    assert ">C</text>" in svg  # a variant without rows yet is still in the legend
