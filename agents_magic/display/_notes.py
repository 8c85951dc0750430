"""Small display objects the magics return: notes, YAML listings and dry-run plans."""

from __future__ import annotations

import html
from typing import Any


class Note:
    """A short message: plain text in a terminal, a styled block in a notebook."""

    __module__ = "agents_magic"

    def __init__(self, text: str, *, kind: str = "info") -> None:
        self.text = text
        self.kind = kind

    def __repr__(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        colour = {"ok": "#1a7f37", "info": "#57606a", "warn": "#9a6700"}.get(self.kind, "#57606a")
        lines = self.text.splitlines() or [""]
        first = _inline_code(html.escape(lines[0]))
        rest = "".join(f"<div>{_inline_code(html.escape(line))}</div>" for line in lines[1:])
        return (f"<div class='am-note' style='border-left:3px solid {colour};padding:2px 8px'>"
                f"<div>{first}</div>{rest}</div>")


class Help(Note):
    """Usage text, shown verbatim."""

    def _repr_html_(self) -> str:
        return f"<pre class='am-help'>{html.escape(self.text)}</pre>"


class YamlView:
    """A workflow's YAML: plain text, or a highlighted code block in a notebook."""

    __module__ = "agents_magic"

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        fence = "````" if "```" in self.text else "```"
        return f"{fence}yaml\n{self.text.rstrip()}\n{fence}"


class Plan:
    """What ``--dry-run`` found: the checks made and the graph, with no LLM called."""

    __module__ = "agents_magic"

    def __init__(self, summary: str, graph: Any) -> None:
        self.summary = summary
        self.graph = graph

    def __repr__(self) -> str:
        return f"{self.summary}\n\n{self.graph.mermaid}"

    def _repr_html_(self) -> str:
        return Note(self.summary, kind="ok")._repr_html_() + self.graph._repr_html_()


def _inline_code(escaped: str) -> str:
    """`name` → <code>name</code> in already-escaped text."""
    parts = escaped.split("`")
    if len(parts) < 3 or len(parts) % 2 == 0:
        return escaped
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
