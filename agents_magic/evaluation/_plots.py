"""The evaluation's figure (plotly): latency and cost percentiles per variant and per node,
metric means with their 95 % intervals, and cost against quality with the non-dominated
variants marked. Built from the summary tables, never from per-row objects."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ._result import EvalResult

CURVE_POINTS = tuple(range(1, 101))
NEEDS_PLOTLY = "plots need `pip install 'agents_magic[plotly]'`"


def percentile_curve(values: list[float]) -> list[float]:
    """Nearest-rank percentiles 1..100 of ``values`` (none when it is empty)."""
    from ._stats import nearest_ranks

    return nearest_ranks(values, CURVE_POINTS) if values else []


def pareto(points: dict[str, tuple[float, float]]) -> set[str]:
    """Variants no other beats on both cost (lower) and quality (higher)."""
    front = set()
    for name, (cost, quality) in points.items():
        if math.isnan(quality):
            continue
        dominated = any(c <= cost and q >= quality and (c < cost or q > quality)
                        for other, (c, q) in points.items() if other != name and not math.isnan(q))
        if not dominated:
            front.add(name)
    return front


def figure(result: EvalResult) -> go.Figure:
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        from ..errors import AgentsMagicError

        raise AgentsMagicError(NEEDS_PLOTLY) from None
    fig = make_subplots(rows=3, cols=2, vertical_spacing=0.11, subplot_titles=(
        "latency per run (ms) by percentile", "cost per run (USD) by percentile",
        "latency per node (ms): p50 / p95 / p99", "cost per node (USD): p50 / p95 / p99",
        "metric means, 95 % interval", "cost vs quality (★ non-dominated)"))
    colours = _colours(result.variants)
    for variant, rows in result._by_variant.items():
        colour = colours[variant]
        for col, key in ((1, "latency_ms"), (2, "cost_usd")):
            fig.add_trace(go.Scatter(x=list(CURVE_POINTS), y=percentile_curve([r[key] for r in rows]),
                                     mode="lines", name=variant, legendgroup=variant,
                                     showlegend=col == 1, line={"color": colour}), row=1, col=col)
    nodes = result.nodes
    if not nodes.empty:
        for variant, part in nodes.groupby("variant", sort=False):
            for col, key in ((1, "latency_ms"), (2, "cost_usd")):
                fig.add_trace(go.Bar(
                    x=part["node_id"], y=part[f"{key}_p50"], name=f"{variant}", legendgroup=variant,
                    showlegend=False, marker={"color": colours[str(variant)]},
                    error_y={"type": "data", "symmetric": False,
                             "array": part[f"{key}_p99"] - part[f"{key}_p50"],
                             "arrayminus": [0] * len(part)},
                    customdata=part[[f"{key}_p95", f"{key}_p99"]].to_numpy(),
                    hovertemplate="p50 %{y}<br>p95 %{customdata[0]}<br>p99 %{customdata[1]}"),
                    row=2, col=col)
    summary = result.summary
    metrics = result.metric_names
    for variant in result.variants:
        if not metrics:
            break
        means = [summary.at[variant, m] for m in metrics]
        fig.add_trace(go.Bar(
            x=metrics, y=means, name=variant, legendgroup=variant, showlegend=False,
            marker={"color": colours[variant]},
            error_y={"type": "data", "symmetric": False,
                     "array": [summary.at[variant, f"{m}_high"] - summary.at[variant, m] for m in metrics],
                     "arrayminus": [summary.at[variant, m] - summary.at[variant, f"{m}_low"] for m in metrics]}),
            row=3, col=1)
    primary = result.config.get("primary_metric") or next(iter(metrics), None)
    if primary is not None:
        points = {v: (float(summary.at[v, "cost_usd_avg"]), float(summary.at[v, primary]))
                  for v in result.variants}
        front = pareto(points)
        for variant, (cost, quality) in points.items():
            fig.add_trace(go.Scatter(
                x=[cost], y=[quality], mode="markers+text", text=[variant], textposition="top center",
                legendgroup=variant, showlegend=False,
                marker={"color": colours[variant], "size": 16 if variant in front else 10,
                        "symbol": "star" if variant in front else "circle"}), row=3, col=2)
        fig.update_xaxes(title_text="cost per run (USD)", row=3, col=2)
        low, high = min(q for _, q in points.values()), max(q for _, q in points.values())
        pad = max(0.15, 0.2 * (high - low))  # room for the names written above the points
        fig.update_yaxes(title_text=primary, range=[low - pad, high + pad], row=3, col=2)
    for col in (1, 2):
        fig.update_xaxes(ticksuffix="%", row=1, col=col)
    for row, col in ((1, 2), (2, 2)):  # costs are never negative, and all-free runs sit on 0
        fig.update_yaxes(rangemode="nonnegative", row=row, col=col)
    fig.update_layout(height=900, barmode="group", title=f"{result.name} · {result.workflow}",
                      margin={"t": 80, "l": 50, "r": 20, "b": 40})
    return fig


def _colours(variants: list[str]) -> dict[str, Any]:
    from plotly.colors import qualitative

    palette = qualitative.Plotly
    return {v: palette[i % len(palette)] for i, v in enumerate(variants)}

