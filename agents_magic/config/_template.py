"""Prompt templates: ``{state.field}``, ``{state.obj.key}``, bare ``{field}``.

Only a brace around a name path (``{name}``, ``{name.key}``, ``{ state.x }``) is a placeholder.
Any other brace is literal text, so JSON examples and code need no doubling: ``{"a": 1}``, ``{ }``
and ``f(x) {return x}`` come out as written. ``{{`` and ``}}`` still give one literal brace, except
that a ``}}`` closing braces that were opened literally (``{"a": {"b": 1}}``) stays as written.

As in conditions, a path may not name anything starting with ``_`` (``{state.text.__class__}``):
validation reports it at load and :func:`render` refuses it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

from ._schema import LOOP_PREFIX

_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}")
_BRACES = re.compile(r"\{\{|\}\}|[{}]")


@dataclass(frozen=True)
class Placeholder:
    text: str              # as written, e.g. "{state.topic}"
    path: tuple[str, ...]  # without the leading "state", e.g. ("topic",)


def _segments(template: str) -> Iterator[str | Placeholder]:
    """The template as literal text pieces and placeholders, in order."""
    opened: list[bool] = []  # braces still open: True where written as `{{`
    position, text = 0, []
    while True:
        match = _BRACES.search(template, position)
        if match is None:
            text.append(template[position:])
            break
        text.append(template[position:match.start()])
        token, position = match.group(0), match.end()
        if token == "{{":
            opened.append(True)
            text.append("{")
        elif token == "{":
            found = _PLACEHOLDER.match(template, match.start())
            if found:
                yield "".join(text)
                text = []
                yield Placeholder(found.group(0), reference(found.group(1)))
                position = found.end()
            else:
                opened.append(False)
                text.append("{")
        elif token == "}}" and opened and not opened[-1]:
            opened.pop()  # closes a literal `{`; the second `}` is looked at again
            text.append("}")
            position -= 1
        else:
            if opened:
                opened.pop()
            text.append("}")
    yield "".join(text)


@lru_cache(maxsize=1024)
def _parsed(template: str) -> tuple[str | Placeholder, ...]:
    """:func:`_segments` of ``template``, parsed once (a prompt is rendered on every run)."""
    return tuple(_segments(template))


def placeholders(template: str) -> list[Placeholder]:
    """Every placeholder in ``template``, in order."""
    return [part for part in _segments(template) if isinstance(part, Placeholder)]


def reference(text: str) -> tuple[str, ...]:
    """``"state.a.b"``, ``"{state.a.b}"`` or ``"a.b"`` → ``("a", "b")``."""
    text = text.strip().strip("{}").strip()
    parts = tuple(text.split(".")) if text else ()
    return parts[1:] if parts[:1] == ("state",) and len(parts) > 1 else parts


class TemplateError(ValueError):
    """A placeholder names something a template may not read."""


def private(path: tuple[str, ...]) -> bool:
    """Whether ``path`` names something starting with ``_`` (a loop counter at the top is fine)."""
    head, *rest = path or ("",)
    return (head.startswith("_") and not head.startswith(LOOP_PREFIX)) or any(
        part.startswith("_") for part in rest)


def lookup(state: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path``: keys of dicts, public attributes of other objects."""
    if private(path):
        raise TemplateError(f"`{'.'.join(path)}`: names starting with `_` are not allowed in a placeholder")
    value: Any = state
    for key in path:
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return value


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def render(template: str, state: dict[str, Any], renames: dict[str, tuple[str, ...]] | None = None) -> str:
    """Fill ``template`` from ``state``; ``renames`` maps a local name to a state path."""
    renames = renames or {}
    out = []
    for part in _parsed(template):
        if isinstance(part, str):
            out.append(part)
            continue
        path = part.path
        if path and path[0] in renames and not part.text[1:].lstrip().startswith("state."):
            path = renames[path[0]] + path[1:]
        out.append(as_text(lookup(state, path)))
    return "".join(out)
