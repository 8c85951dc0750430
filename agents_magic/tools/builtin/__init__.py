"""Built-in tools, by the names configurable-agents gives them: each entry makes a `Tool` from
its configuration (the node's `config:` mapping, as keyword arguments), whose arguments are
checked at every call (a `ToolArgumentsError` names what is wrong)."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from agents_magic.tools._tool import Tool
from agents_magic.tools.builtin import env, files, formats, network, process, sql
from agents_magic.tools.builtin._config import arguments_checked


def _checked(factory: Callable[..., Tool]) -> Callable[..., Tool]:
    @functools.wraps(factory)
    def make(**config: Any) -> Tool:
        return arguments_checked(factory(**config))
    return make


BUILTINS: dict[str, Callable[..., Tool]] = {name: _checked(factory) for name, factory in {
    "file_read": files.file_read,
    "file_write": files.file_write,
    "file_glob": files.file_glob,
    "file_move": files.file_move,
    "sql_query": sql.sql_query,
    "json_parse": formats.json_parse,
    "yaml_parse": formats.yaml_parse,
    "dataframe_to_csv": formats.dataframe_to_csv,
    "http_client": network.http_client,
    "web_scrape": network.web_scrape,
    "web_search": network.web_search,
    "shell": process.shell,
    "process": process.process,
    "env_vars": env.env_vars,
}.items()}
