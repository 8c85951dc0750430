"""Report pieces that need no store: the charts' axes."""

from __future__ import annotations


import pandas as pd

from agents_magic._reports import cost_figure, percentile_figure


def test_a_free_run_charts_a_zero_based_axis_not_minus_one_to_one_dollar() -> None:
    free = pd.DataFrame({"provider": ["mock"], "cost_usd": [0.0], "total_tokens": [12]})
    free.attrs["by"] = "provider"
    axis = cost_figure(free).layout.yaxis
    assert tuple(axis.range) == (0, 0.001) and axis.rangemode == "nonnegative"
    paid = pd.DataFrame({"provider": ["openai"], "cost_usd": [0.02], "total_tokens": [900]})
    paid.attrs["by"] = "provider"
    axis = cost_figure(paid).layout.yaxis
    assert axis.range is None and axis.rangemode == "nonnegative"


def test_percentile_figure_has_one_series_per_percentile() -> None:
    frame = pd.DataFrame({"node_id": ["a", "b"], "p50_ms": [1.0, 2.0], "p95_ms": [3.0, 4.0],
                          "p99_ms": [5.0, 6.0]})
    frame.attrs["workflow"] = "w"
    figure = percentile_figure(frame)
    assert [(t.name, list(t.y)) for t in figure.data] == [("p50", [1.0, 2.0]), ("p95", [3.0, 4.0]),
                                                         ("p99", [5.0, 6.0])]
    assert "w" in figure.layout.title.text
