"""HTML helpers for outputs: escape text so notebook math renderers leave dollar amounts alone."""

from __future__ import annotations

import html
import math

# MathJax 3 (JupyterLab, Notebook 7) skips `mathjax_ignore`; MathJax 2 (nbviewer) `tex2jax_ignore`.
NO_MATH = "mathjax_ignore tex2jax_ignore"


def esc(text: object) -> str:
    """``html.escape`` that also encodes ``$`` (``$0.01 – $0.02`` must not become LaTeX)."""
    return html.escape(str(text)).replace("$", "&#36;")


def no_math(body: str, cls: str = "") -> str:
    """Wrap an HTML fragment in a block math renderers do not typeset."""
    return f'<div class="{NO_MATH}{" " + cls if cls else ""}">{body}</div>'


def one_line(text: object, limit: int) -> str:
    """``text`` on one line (runs of whitespace become one space), cut to ``limit`` characters
    with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def usd(value: float) -> str:
    """Dollars as people read them: ``$0``, ``$0.000013``, ``$0.0139``, ``$0.25``, ``$1,234.50``
    (three significant digits below a dollar, so single LLM calls stay visible)."""
    if not value:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    decimals = min(12, 2 - math.floor(math.log10(abs(value))))
    return "$" + f"{value:.{decimals}f}".rstrip("0").rstrip(".")
