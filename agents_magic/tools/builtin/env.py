"""`env_vars`: the values of environment variables the node lists, never of secrets."""
from __future__ import annotations

import os
from typing import Any

from agents_magic._secrets import is_secret_name, secret_values
from agents_magic.tools._tool import Tool, ToolError
from agents_magic.tools.builtin._config import Settings, arguments, settings


class EnvSettings(Settings):
    names: list[str]


def env_vars(**config: Any) -> Tool:
    """Read the listed environment variables; variables the project treats as secrets (keys,
    tokens, passwords, provider keys, any `api_key_env`) are refused, when configured and on
    every call, and so is any value equal to a known secret."""
    cfg = settings("env_vars", EnvSettings, config)
    secret = [n for n in cfg.names if is_secret_name(n)]
    if secret:
        raise ToolError(f"env_vars: config `names`: {', '.join(secret)} hold secrets and cannot be listed")

    def read(names: list[str] | None = None) -> dict[str, Any]:
        wanted = cfg.names if names is None else names
        unknown = [n for n in wanted if n not in cfg.names]
        if unknown:
            raise ToolError(f"`{unknown[0]}` is not one of the variables this tool may read "
                            f"({', '.join(cfg.names)})")
        known = set(secret_values())
        values: dict[str, Any] = {}
        for name in wanted:
            value = os.environ.get(name)
            # Checked again now: a workflow may have named it as a key since the tool was made.
            if is_secret_name(name) or value in known:
                raise ToolError(f"`{name}` holds a secret and cannot be read")
            values[name] = value
        return {"variables": values}

    return Tool("env_vars",
                f"Read environment variables: {', '.join(cfg.names)} (missing ones are null).",
                arguments({"names": {"type": "array", "items": {"type": "string", "enum": cfg.names}}}),
                read)
