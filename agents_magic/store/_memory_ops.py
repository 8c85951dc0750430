"""How a memory write combines with the stored value: a pure function shared by the store
(inside its locked transaction) and the sandbox worker (so code reads its own writes). It
imports nothing, so the worker loads nothing more for it."""

from __future__ import annotations

from typing import Any

MISSING: Any = object()


class MemoryValueError(TypeError):
    """A write that cannot apply to the stored value (adding a number to text)."""


def combine(mode: str, current: Any, value: Any, keep: int | None = None) -> Any:
    """The value after writing ``value`` with ``mode`` over ``current`` (``MISSING`` if none).

    ``set`` replaces; ``append`` adds an item to a list (a missing value starts one, a single
    value becomes the list's first item), keeping the last ``keep`` items; ``add`` adds a number.
    """
    if mode == "set":
        return value
    if mode == "append":
        items = [] if current is MISSING or current is None else (
            list(current) if isinstance(current, list) else [current])
        items.append(value)
        return items[-keep:] if keep else items
    if mode == "add":
        if not _number(value):
            raise MemoryValueError(f"`add` needs a number, got {type(value).__name__}")
        if current is MISSING or current is None:
            return value
        if not _number(current):
            raise MemoryValueError(f"cannot add to a stored {type(current).__name__}")
        return current + value
    raise MemoryValueError(f"unknown memory write mode `{mode}` (set, append or add)")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
