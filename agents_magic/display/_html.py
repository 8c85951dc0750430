"""HTML helpers for outputs: escape text so notebook math renderers leave dollar amounts alone."""

from __future__ import annotations

import html

# MathJax 3 (JupyterLab, Notebook 7) skips `mathjax_ignore`; MathJax 2 (nbviewer) `tex2jax_ignore`.
NO_MATH = "mathjax_ignore tex2jax_ignore"


def esc(text: object) -> str:
    """``html.escape`` that also encodes ``$`` (``$0.01 – $0.02`` must not become LaTeX)."""
    return html.escape(str(text)).replace("$", "&#36;")


def no_math(body: str, cls: str = "") -> str:
    """Wrap an HTML fragment in a block math renderers do not typeset."""
    return f'<div class="{NO_MATH}{" " + cls if cls else ""}">{body}</div>'
