"""Parse YAML into plain Python data plus a map from data paths to line:column."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import Problem

Path = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Positions (1-based, already shifted by ``line_offset``) of every value and key."""

    text: str
    line_offset: int = 0
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path, *, key: bool = False) -> tuple[int | None, int | None]:
        """Position of ``path``, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (None, None))

    def snippet(self, line: int | None) -> str:
        if not line:
            return ""
        lines = self.text.splitlines()
        index = line - 1 - self.line_offset
        return lines[index].strip() if 0 <= index < len(lines) else ""

    def problem(self, path: Path, message: str, hint: str = "", *, key: bool = False) -> Problem:
        line, column = self.where(path, key=key)
        return Problem(message, line, column, format_path(path), hint, self.snippet(line))

    def find_in_line(self, path: Path, needle: str, *, reference: bool = False) -> tuple[int | None, int | None]:
        """Position of ``needle`` inside the (possibly multi-line) scalar at ``path``.

        With ``reference``, ``needle`` is a state path matched as a whole word, written
        ``{state.x}``, ``state.x`` or ``x``.
        """
        line, column = self.where(path)
        if line is None:
            return line, column
        pattern = (re.compile(r"(?<![\w.])(?:\{\s*)?(?:state\.)?" + re.escape(needle) + r"(?!\w)")
                   if reference else re.compile(re.escape(needle)))
        lines = self.text.splitlines()
        for index in range(line - 1 - self.line_offset, len(lines)):
            found = pattern.search(lines[index])
            if found:
                return index + 1 + self.line_offset, found.start() + 1
        return line, column


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        index = isinstance(part, int) and not isinstance(part, bool)
        out += f"[{part}]" if index else (f".{part}" if out else str(part))
    return out


def parse(text: str, line_offset: int = 0) -> tuple[Any, SourceMap]:
    """Parse ``text``; raise :class:`yaml.MarkedYAMLError` subclasses on syntax errors."""
    smap = SourceMap(text, line_offset)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = _build(root, loader, smap, (), [], [0]) if root is not None else None
    finally:
        loader.dispose()
    return data, smap


MAX_NODES = 100_000


class StructureError(yaml.MarkedYAMLError):
    """Valid YAML that cannot be a workflow: duplicate or unhashable keys, recursive aliases."""


def _build(node: yaml.Node, loader: yaml.SafeLoader, smap: SourceMap, path: Path,
           stack: list[int], count: list[int]) -> Any:
    count[0] += 1
    if count[0] > MAX_NODES:  # aliases can multiply a small text into a huge document
        raise StructureError(None, None, f"the document expands to over {MAX_NODES} values",
                             node.start_mark)
    if id(node) in stack:
        raise StructureError(None, None, "an alias refers to itself", node.start_mark)
    smap.values.setdefault(path, (node.start_mark.line + 1 + smap.line_offset, node.start_mark.column + 1))
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)
    stack.append(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [_build(item, loader, smap, (*path, i), stack, count) for i, item in enumerate(node.value)]
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise StructureError(None, None, "a mapping key must be a plain value, not a "
                                     "list or mapping", key_node.start_mark)
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                raise StructureError(None, None, f"duplicate key `{key}`", key_node.start_mark)
            child = (*path, key)
            smap.keys[child] = (key_node.start_mark.line + 1 + smap.line_offset,
                                key_node.start_mark.column + 1)
            out[key] = _build(value_node, loader, smap, child, stack, count)
        return out
    finally:
        stack.pop()
