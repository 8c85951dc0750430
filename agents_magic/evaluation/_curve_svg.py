"""The latency percentile curves of a running evaluation as a small inline SVG: drawn in the
live progress box and kept in the saved output, with no plotting library to load."""

from __future__ import annotations

from ..display._html import esc
from ._plots import CURVE_POINTS

# plotly's qualitative palette, so the live curves match the colours of the final figure.
PALETTE = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692",
           "#B6E880", "#FF97FF", "#FECB52")
WIDTH, HEIGHT = 520, 220
LEFT, RIGHT, TOP, BOTTOM = 58, 96, 26, 34
TITLE = "latency per run (ms) by percentile"


def curve_svg(curves: dict[str, list[float]]) -> str:
    """``curves`` (variant -> latency at percentiles 1..100) as an SVG; empty when no row is done."""
    if not any(curves.values()):
        return ""
    top = max(max(c) for c in curves.values() if c) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(p: float) -> float:
        return LEFT + (p - CURVE_POINTS[0]) / (CURVE_POINTS[-1] - CURVE_POINTS[0]) * plot_w

    def y(ms: float) -> float:
        return TOP + plot_h - ms / top * plot_h

    parts = [f'<text x="{WIDTH / 2:.0f}" y="16" text-anchor="middle" font-weight="bold">{TITLE}</text>',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d0d7de"/>']
    for ms in (0.0, top / 2, top):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(ms):.1f}" y2="{y(ms):.1f}" '
                     f'stroke="#eaeef2"/><text x="{LEFT - 6}" y="{y(ms) + 4:.1f}" text-anchor="end">'
                     f'{ms:,.0f}</text>')
    for p in (1, 25, 50, 75, 100):
        parts.append(f'<text x="{x(p):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{p}%</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle">percentile</text>')
    for i, (variant, curve) in enumerate(curves.items()):
        colour = PALETTE[i % len(PALETTE)]
        if curve:
            points = " ".join(f"{x(p):.1f},{y(ms):.1f}" for p, ms in zip(CURVE_POINTS, curve))
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                         f'<title>{esc(variant)}</title></polyline>')
        ly = TOP + 12 + 16 * i
        parts.append(f'<line x1="{WIDTH - RIGHT + 8}" x2="{WIDTH - RIGHT + 24}" y1="{ly - 4}" y2="{ly - 4}" '
                     f'stroke="{colour}" stroke-width="2"/><text x="{WIDTH - RIGHT + 28}" y="{ly}">'
                     f'{esc(variant)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="am-eval-curve" width="{WIDTH}" '
            f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11" '
            f'role="img" aria-label="{TITLE}">{"".join(parts)}</svg>')
