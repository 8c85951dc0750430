"""Parse YAML into plain Python data plus a map from data paths to line:column.

Parsing is bounded: a document may nest collections at most ``MAX_DEPTH`` deep and expand to at
most ``MAX_VALUES`` values (aliases included). libyaml parses when PyYAML has it; the pure-Python
parser, which recurses once per level, only runs after a scan has checked the nesting.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
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
    ignored: list[str] = field(default_factory=list)  # notes on keys dropped as unknown

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

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def block_start(self, path: Path) -> tuple[int, int]:
        """Line and indent of the text of the string at ``path``: a block scalar (``|``, ``>``)
        starts on the line after its key."""
        line, _ = self.where(path)
        first, indent = line or 1, 0
        if line and self.snippet(line).split(":", 1)[-1].strip()[:1] in ("|", ">"):
            first += 1
            index = first - 1 - self.line_offset
            if index < len(self.lines):
                indent = len(self.lines[index]) - len(self.lines[index].lstrip())
        return first, indent

    def snippet(self, line: int | None) -> str:
        if not line:
            return ""
        index = line - 1 - self.line_offset
        text = self.lines[index].strip() if 0 <= index < len(self.lines) else ""
        return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS - 1] + "…"

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
        lines = self.lines
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
    with _collection_paused():
        loader, root = _compose(text)
        try:
            data = _build(root, loader, smap, (), [], [0]) if root is not None else None
        finally:
            loader.dispose()
    return data, smap


MAX_VALUES = 100_000
MAX_DEPTH = 50
SNIPPET_CHARS = 160
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


class StructureError(yaml.MarkedYAMLError):
    """Valid YAML that cannot be a workflow: duplicate or unhashable keys, recursive aliases,
    nesting beyond ``MAX_DEPTH``, more than ``MAX_VALUES`` values."""


def _too_deep(mark: Any) -> StructureError:
    return StructureError(None, None, f"lists and mappings are nested more than {MAX_DEPTH} "
                          "levels deep", mark)


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Building tens of thousands of small objects triggers garbage collections that free
    nothing and, in a large process, cost more than the parse itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compose(text: str) -> tuple[Any, yaml.Node | None]:
    """The loader and the document's root node. libyaml (its own nesting limit keeps it safe)
    when PyYAML has it; else, or to word a syntax error as users know it, the pure-Python parser
    after a scan of its nesting."""
    if _FAST_LOADER is not None:
        loader = _FAST_LOADER(text)
        try:
            return loader, loader.get_single_node()
        except yaml.YAMLError:
            loader.dispose()
    _check_depth(text)
    loader = yaml.SafeLoader(text)
    try:
        return loader, loader.get_single_node()
    except BaseException:
        loader.dispose()
        raise


def _check_depth(text: str) -> None:
    """Walk the event stream (no recursion) and stop at the first collection nested too deep."""
    loader = yaml.SafeLoader(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _too_deep(event.start_mark)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _build(node: yaml.Node, loader: yaml.SafeLoader, smap: SourceMap, path: Path,
           stack: list[int], count: list[int]) -> Any:
    count[0] += 1
    if count[0] > MAX_VALUES:  # aliases can multiply a small text into a huge document
        raise StructureError(None, None, f"the document expands to over {MAX_VALUES} values",
                             node.start_mark)
    if id(node) in stack:
        raise StructureError(None, None, "an alias refers to itself", node.start_mark)
    smap.values.setdefault(path, (node.start_mark.line + 1 + smap.line_offset, node.start_mark.column + 1))
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, loader)
    if len(stack) >= MAX_DEPTH:
        raise _too_deep(node.start_mark)
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
            key = _scalar(key_node, loader)
            if key in out:
                raise StructureError(None, None, f"duplicate key `{key}`", key_node.start_mark)
            child = (*path, key)
            smap.keys[child] = (key_node.start_mark.line + 1 + smap.line_offset,
                                key_node.start_mark.column + 1)
            out[key] = _build(value_node, loader, smap, child, stack, count)
        return out
    finally:
        stack.pop()


def _scalar(node: yaml.ScalarNode, loader: Any) -> Any:
    """The value of a scalar node, by its resolved tag (``construct_object`` without its cache)."""
    construct = loader.yaml_constructors.get(node.tag) or loader.yaml_constructors[None]
    return construct(loader, node)
