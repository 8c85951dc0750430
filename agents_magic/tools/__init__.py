"""Tools an LLM node may call: built-in tools whose limits the system enforces, and notebook
functions (the user's own code, run in the kernel).

``get(name, **config)`` makes a built-in tool; ``from_function(f)`` and the ``@tool`` decorator
(also ``agents_magic.tool``) make a tool of a typed, documented Python function.
"""
from agents_magic.tools._function import from_function, tool
from agents_magic.tools._registry import get
from agents_magic.tools._tool import Tool, ToolArgumentsError, ToolError

__all__ = ["Tool", "ToolArgumentsError", "ToolError", "from_function", "get", "tool"]
