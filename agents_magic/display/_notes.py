"""Small display objects the magics return: notes, YAML listings, dry-run plans, cost estimates
and stored runs."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from ..engine.events import execution_label
from ._html import NO_MATH, esc, usd

_STATUS_COLOURS = {"succeeded": "#1a7f37", "cancelled": "#9a6700", "running": "#57606a"}


class Note:
    """A short message: plain text in a terminal, a styled block in a notebook."""

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
        first = _inline_code(esc(lines[0]))
        rest = "".join(f"<div>{_inline_code(esc(line))}</div>" for line in lines[1:])
        return (f"<div class='am-note {NO_MATH}' style='border-left:3px solid {colour};padding:2px 8px'>"
                f"<div>{first}</div>{rest}</div>")


class Help(Note):
    """Usage text, shown verbatim: a long line scrolls instead of breaking mid-word."""

    def _repr_html_(self) -> str:
        return (f"<pre class='am-help {NO_MATH}' style='white-space:pre;overflow-x:auto'>"
                f"{esc(self.text)}</pre>")


class YamlView:
    """A workflow's YAML: plain text, or a highlighted code block in a notebook."""

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

    def __init__(self, summary: str, graph: Any) -> None:
        self.summary = summary
        self.graph = graph

    def __repr__(self) -> str:
        return f"{self.summary}\n\n{self.graph.mermaid}"

    def _repr_html_(self) -> str:
        return Note(self.summary, kind="ok")._repr_html_() + self.graph._repr_html_()


class Estimate:
    """What a run would cost, worked out before any call: a range in USD, per node, and what
    the numbers assume (from :func:`agents_magic._estimate.estimate`, kept as ``data``)."""

    COLUMNS = ["node_id", "provider", "model", "calls_min", "calls_max", "prompt_tokens_min",
               "prompt_tokens_max", "completion_tokens_max", "min_usd", "max_usd"]

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.min_usd: float = data["min_usd"]
        self.max_usd: float = data["max_usd"]
        self.nodes = data["nodes"]

    def summary(self) -> str:
        d = self.data
        return (f"`{d['workflow']}` would cost {usd(d['min_usd'])} – {usd(d['max_usd'])} "
                f"({d['min_tokens']:,} – {d['max_tokens']:,} tokens) · estimate, no LLM was called")

    def _table(self) -> Any:
        return self.nodes[[c for c in self.COLUMNS if c in self.nodes.columns]]

    def __repr__(self) -> str:
        table = self._table().to_string(index=False, float_format=lambda v: f"{v:.6f}")
        notes = "\n".join(f"  - {a}" for a in self.data["assumptions"])
        return f"{self.summary()}\n\n{table}\n\nassumptions:\n{notes}"

    def _repr_html_(self) -> str:
        table = self._table().to_html(index=False, border=0, float_format=lambda v: f"{v:.6f}")
        notes = "".join(f"<li>{esc(a)}</li>" for a in self.data["assumptions"])
        return (f"<div class='am-estimate {NO_MATH}'>{Note(self.summary())._repr_html_()}{table}"
                f"<details><summary>assumptions</summary><ul>{notes}</ul></details></div>")


class RunDetail:
    """One stored run in full (from :func:`agents_magic._reports.show_run`, kept as ``run``):
    inputs, outputs, and each node's prompt and response."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.run = run

    def _facts(self) -> list[str]:
        r = self.run
        facts = [f"run {r['run_id']}", _when(r.get("started_at"))]
        if r.get("duration_ms") is not None:
            facts.append(f"{float(r['duration_ms']) / 1000:.2f}s")
        facts += [f"{r.get('total_tokens') or 0} tokens", usd(float(r.get("cost_usd") or 0.0))]
        return [f for f in facts if f]

    @staticmethod
    def _node_facts(node: dict[str, Any]) -> list[str]:
        facts = [str(node.get("status") or "")]
        if node.get("provider") or node.get("model"):
            facts.append(f"{node.get('provider') or '?'}/{node.get('model') or '?'}")
        if node.get("duration_ms") is not None:
            facts.append(f"{float(node['duration_ms']):.0f} ms")
        facts.append(f"{node.get('prompt_tokens') or 0} → {node.get('completion_tokens') or 0} tokens")
        if node.get("cached"):
            facts.append("cached")
        if (node.get("attempts") or 1) > 1:
            facts.append(f"{node['attempts']} attempts")
        return facts

    @staticmethod
    def _label(node: dict[str, Any]) -> str:
        item = node.get("item")
        return execution_label(str(node.get("node_id")), None if item is None else int(item),
                               node.get("iteration") or 1)

    def __repr__(self) -> str:
        r = self.run
        lines = [f"{r['workflow']} {r['status']} · " + " · ".join(self._facts())]
        if r.get("error"):
            lines.append(f"error: {r['error']}")
        for title in ("inputs", "outputs"):
            values = self._values(title)
            lines.append(f"{title}:" + ("" if values else " none"))
            lines += [_indent(f"{k} = {_text(v)}", "  ", "    ") for k, v in values.items()]
        for node in r.get("nodes") or []:
            lines.append(f"── {self._label(node)} · " + " · ".join(self._node_facts(node)))
            for part in _parts(node):
                lines.append(f"  {part}:")
                lines.append(_indent(_text(node.get(part) or ""), "    ", "    "))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        r = self.run
        colour = _STATUS_COLOURS.get(r["status"], "#cf222e")
        head = (f"<div><b style='color:{colour}'>{esc(str(r['status']))}</b> "
                f"<code>{esc(str(r['workflow']))}</code> · "
                + " · ".join(esc(f) for f in self._facts()) + "</div>")
        if r.get("error"):
            head += f"<div style='color:{colour}'>{esc(str(r['error']))}</div>"
        tables = "".join(self._html_values(title, self._values(title))
                         for title in ("inputs", "outputs"))
        nodes = "".join(self._html_node(node) for node in r.get("nodes") or [])
        return f"<div class='am-run-detail {NO_MATH}'>{head}{tables}{nodes}</div>"

    @functools.cached_property
    def _input_defaults(self) -> dict[str, Any]:
        """The stored workflow's optional fields and defaults, loaded once for both renderings."""
        return _defaults(self.run.get("yaml"), self.run.get("workflow"))

    def _values(self, title: str) -> dict[str, Any]:
        """Outputs, or the inputs that were given: a stored run's inputs also hold the fields
        left at their defaults, which nobody typed."""
        values = _visible(self.run.get(title))
        if title == "inputs":
            defaults = self._input_defaults
            values = {k: v for k, v in values.items() if k not in defaults
                      or not (defaults[k] == v or (defaults[k] is None and v in ("", [], {})))}
        return values

    @staticmethod
    def _html_values(title: str, values: dict[str, Any]) -> str:
        if not values:
            return f"<div><b>{title}</b>: none</div>"
        left = "style='text-align:left;vertical-align:top'"  # notebooks right-align table cells
        rows = "".join(f"<tr><td {left}><code>{esc(str(k))}</code></td><td {left}>{_pre(_text(v))}</td></tr>"
                       for k, v in values.items())
        return f"<table><tr><th {left}>{title}</th><th {left}>value</th></tr>{rows}</table>"

    def _html_node(self, node: dict[str, Any]) -> str:
        facts = " · ".join(esc(f) for f in self._node_facts(node))
        parts = "".join(f"<div><b>{part}</b></div>{_pre(_text(node.get(part) or ''))}"
                        for part in _parts(node))
        return (f"<details open><summary><code>{esc(self._label(node))}</code> · {facts}"
                f"</summary>{parts}</details>")


def _parts(node: dict[str, Any]) -> list[str]:
    """What a node's view shows: prompt and response always, the error when there is one."""
    return ["prompt", "response", *(["error"] if node.get("error") else [])]


def _when(value: Any) -> str:
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)


def _defaults(yaml_text: str | None, name: str | None) -> dict[str, Any]:
    """The state fields of a stored workflow that are optional, with their default values."""
    if not yaml_text:
        return {}
    from .._workflow import load

    try:
        fields = load(yaml_text, name=name).spec.state.fields
    except Exception:  # a workflow stored by an older version may no longer load: show all
        return {}
    return {k: f.default for k, f in fields.items() if not f.required}


def _visible(values: Any) -> dict[str, Any]:
    """A state without its private ``_`` keys (as RunResult shows it)."""
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if not str(k).startswith("_")}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _indent(text: str, first: str, rest: str) -> str:
    lines = text.splitlines() or [""]
    return "\n".join([first + lines[0], *(rest + line if line else "" for line in lines[1:])])


def _pre(text: str) -> str:
    return f"<pre style='white-space:pre-wrap;margin:2px 0'>{esc(text)}</pre>"


def _inline_code(escaped: str) -> str:
    """`name` → <code>name</code> in already-escaped text."""
    parts = escaped.split("`")
    if len(parts) < 3 or len(parts) % 2 == 0:
        return escaped
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
