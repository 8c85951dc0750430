"""Targeted edits of YAML text: set a dotted path's value and leave every other byte alone.

A variant's overrides are written into the user's own text — comments, key order, quoting and
layout kept — by replacing the span of the value (from PyYAML's node marks) or inserting a
missing key at its mapping's indentation. The new value keeps the old one's style where it
can: a multi-line string as a ``|`` block at the original indentation, a quoted string quoted
the same way, a flow collection in flow style.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..config._validate import did_you_mean
from ..errors import InputError

_FLOW_UNSAFE = re.compile(r"[,\[\]{}]")


def set_path(text: str, path: str, value: Any) -> str:
    """``text`` with the value at ``path`` (``nodes.<id>.prompt``, ``config.llm.model``, ...)
    replaced, or inserted when missing. A segment after a list picks the item by its ``id``."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        raise InputError("the workflow is not a YAML mapping")
    parts = path.split(".")
    node: yaml.Node = root
    flow = False
    for i, part in enumerate(parts):
        flow = flow or bool(getattr(node, "flow_style", False))
        if isinstance(node, yaml.SequenceNode):
            node = _item_by_id(node, part, path)
            continue
        if not isinstance(node, yaml.MappingNode):
            if _is_null(node):
                return _splice(text, node, _flow_value(_nested(parts[i:], value)), pad=True)
            raise InputError(f"`{'.'.join(parts[:i])}` is not a mapping in `{path}`")
        found = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
                     None)
        if found is None:
            return _insert(text, node, parts[i:], value)
        if i == len(parts) - 1:
            key = next(k for k, v in node.value if v is found)
            return _replace(text, key, found, value, flow)
        node = found
    raise InputError(f"`{path}` must name a key, such as `{path}.prompt`")


def _item_by_id(seq: yaml.SequenceNode, part: str, path: str) -> yaml.Node:
    ids = []
    for item in seq.value:
        if isinstance(item, yaml.MappingNode):
            for k, v in item.value:
                if k.value == "id" and isinstance(v, yaml.ScalarNode):
                    if v.value == part:
                        return item
                    ids.append(v.value)
    hint = did_you_mean(part, ids)
    raise InputError(f"`{path}` names no node `{part}`" + (f" ({hint})" if hint else "")
                     + (f"; nodes: {', '.join(ids)}" if ids and not hint else ""))


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style is None and node.value in ("", "~", "null", "Null", "NULL")


def _nested(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def _end(text: str, node: yaml.Node) -> int:
    """Where the node's own text ends: a block's marks run on over trailing blank lines."""
    start, end = node.start_mark.index, node.end_mark.index
    return start + len(text[start:end].rstrip())


def _splice(text: str, node: yaml.Node, new: str, *, pad: bool = False) -> str:
    start, end = node.start_mark.index, _end(text, node)
    if pad and start == end and not text[start - 1:start].isspace():
        new = " " + new
    return text[:start] + new + text[end:]


def _replace(text: str, key: yaml.ScalarNode, old: yaml.Node, value: Any, flow: bool) -> str:
    if isinstance(old, yaml.ScalarNode) and isinstance(value, str):
        return _splice(text, old, _string(value, old, key.start_mark.column, text, flow))
    if isinstance(value, (dict, list)) and not flow and isinstance(old, (yaml.MappingNode, yaml.SequenceNode)) \
            and not old.flow_style and value:
        column = old.start_mark.column
        lines = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=float("inf"),
                               default_flow_style=False).rstrip("\n").split("\n")
        return _splice(text, old, "\n".join([lines[0], *(" " * column + ln for ln in lines[1:])]))
    return _splice(text, old, _flow_value(value, flow), pad=True)


def _string(value: str, old: yaml.ScalarNode, key_column: int, text: str, flow: bool) -> str:
    """``value`` written in the style of the scalar it replaces."""
    if not flow and (old.style in ("|", ">") or "\n" in value.rstrip("\n")):
        indent = key_column + 2
        if old.style in ("|", ">"):  # the block's own indentation
            first = text[old.start_mark.index:].split("\n", 2)[1:2]
            if first and first[0].strip():
                indent = len(first[0]) - len(first[0].lstrip(" "))
        block = _block(value, indent, folded=old.style == ">")
        if block is not None:
            return block
    if old.style in ('"', "'"):
        return _dump(value, style=old.style)
    return _flow_value(value, flow)


def _block(value: str, indent: int, *, folded: bool = False) -> str | None:
    """A literal block (folded when replacing one and the value is one line); None when the
    value cannot be one (leading spaces, trailing blank lines, characters YAML escapes)."""
    body = value[:-1] if value.endswith("\n") else value
    if not body or body.endswith("\n") or body[0] in " \t" or any(
            ch not in "\n\t" and not ch.isprintable() for ch in body):
        return None
    header = (">" if folded and "\n" not in body else "|") + ("" if value.endswith("\n") else "-")
    pad = " " * indent
    return header + "\n" + "\n".join(pad + line if line else "" for line in body.split("\n"))


def _dump(value: Any, style: str | None = None) -> str:
    out = yaml.safe_dump(value, default_style=style, allow_unicode=True, width=float("inf"), sort_keys=False,
                         default_flow_style=True)
    return out.removesuffix("\n...\n").rstrip("\n")


def _flow_value(value: Any, flow: bool = True) -> str:
    out = _dump(value)
    if flow and isinstance(value, str) and out == value and _FLOW_UNSAFE.search(value):
        out = _dump(value, style='"')
    return out


def _insert(text: str, mapping: yaml.MappingNode, parts: list[str], value: Any) -> str:
    """Add ``parts`` (the missing keys, outermost first) to ``mapping``."""
    if mapping.flow_style:
        close = mapping.end_mark.index - 1  # the closing brace
        inner = _flow_value(_nested(parts[1:], value)) if parts[1:] else _flow_value(value)
        sep = ", " if mapping.value else ""
        return text[:close].rstrip() + sep + f"{_dump(parts[0])}: {inner}" + text[close:]
    column = mapping.value[0][0].start_mark.column
    after = _end(text, mapping.value[-1][1])
    newline = text.find("\n", after)
    lines = [" " * (column + 2 * i) + _dump(part) + ":" for i, part in enumerate(parts[:-1])]
    key_column = column + 2 * (len(parts) - 1)
    last = " " * key_column + _dump(parts[-1]) + ":"
    if isinstance(value, str) and "\n" in value.rstrip("\n"):
        block = _block(value, key_column + 2)
        lines.append(last + " " + (block if block is not None else _dump(value, style='"')))
    else:
        lines.append(last + " " + _flow_value(value, False))
    added = "\n".join(lines)
    if newline == -1:
        return text + "\n" + added + "\n"
    return text[:newline + 1] + added + "\n" + text[newline + 1:]
