"""Built-in tools, by the names configurable-agents gives them: each entry makes a `Tool` from
its configuration (the node's `config:` mapping, as keyword arguments)."""
from __future__ import annotations

from collections.abc import Callable

from agents_magic.tools._tool import Tool
from agents_magic.tools.builtin import env, files, formats, network, process, sql

BUILTINS: dict[str, Callable[..., Tool]] = {
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
}
