"""Built-in tools, by the names configurable-agents gives them: each entry makes a `Tool` from
its configuration (the node's `config:` mapping, as keyword arguments)."""
from __future__ import annotations

from collections.abc import Callable

from agents_magic.tools._tool import Tool

BUILTINS: dict[str, Callable[..., Tool]] = {}
