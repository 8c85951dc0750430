"""Tools an LLM node may call: built-in tools whose limits the system enforces, and notebook
functions."""
from agents_magic.tools._tool import Tool, ToolError

__all__ = ["Tool", "ToolError"]
