"""Prompt templates: ``{state.field}``, ``{state.obj.key}``, bare ``{field}``; ``{{``/``}}`` escape.

As in conditions, a path may not name anything starting with ``_`` (``{state.text.__class__}``):
validation reports it at load and :func:`render` refuses it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ._schema import LOOP_PREFIX

_TOKEN = re.compile(r"\{\{|\}\}|\{\s*([^{}]*?)\s*\}")
_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class Placeholder:
    text: str              # as written, e.g. "{state.topic}"
    path: tuple[str, ...]  # without the leading "state", e.g. ("topic",)
    valid: bool = True


def placeholders(template: str) -> list[Placeholder]:
    """Every placeholder in ``template``, in order (invalid ones flagged)."""
    out = []
    for match in _TOKEN.finditer(template):
        inner = match.group(1)
        if inner is None:
            continue
        out.append(Placeholder(match.group(0), reference(inner), bool(_PATH.match(inner))))
    return out


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

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        path = reference(match.group(1))
        if path and path[0] in renames and not match.group(1).strip().startswith("state."):
            path = renames[path[0]] + path[1:]
        return as_text(lookup(state, path))

    return _TOKEN.sub(fill, template)
