"""`sql_query`: one read-only query against SQLite or PostgreSQL, read-only by construction.

SQLite: the file is opened as a ``mode=ro`` URI, ``query_only`` and ``trusted_schema=OFF`` are
set, no database may be attached, and an authorizer allows only reading tables, selecting,
recursive CTEs, harmless functions and a few introspection pragmas (so no ``VACUUM INTO``, no
``ATTACH``, no ``load_extension``); a progress handler stops the query at the time limit.

PostgreSQL (psycopg): the query runs inside a server-side cursor (``DECLARE … CURSOR FOR``: one
statement, SELECT/VALUES only, sent as a prepared statement) in a ``READ ONLY`` transaction whose
sessions default to read-only too, with a ``statement_timeout``; the transaction is always rolled
back. Roles that can reach the server's files or programs (superusers, members of
``pg_read_server_files``, ``pg_write_server_files``, ``pg_execute_server_program``) are refused:
a read-only transaction does not stop them.
"""
from __future__ import annotations

import base64
import contextlib
import datetime
import decimal
import os
import sqlite3
import time
import urllib.parse
import uuid
from typing import Any

from pydantic import Field

from agents_magic.tools._tool import Tool, ToolArgumentsError, ToolError
from agents_magic.tools.builtin._config import Settings, arguments, clip, settings

_PG_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://", "postgres+psycopg://")
_SQLITE_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                   sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_PRAGMA}
# Functions that reach outside the database (files, extensions, raw pointers).
_SQLITE_FUNCTIONS_DENIED = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
# Pragmas that only describe the schema; every other pragma is refused.
_SQLITE_PRAGMAS = {"table_info", "table_xinfo", "table_list", "index_list", "index_info",
                   "index_xinfo", "foreign_key_list", "collation_list", "function_list"}
_PRIVILEGED = """
SELECT r.rolsuper OR pg_has_role(session_user, 'pg_read_server_files', 'MEMBER')
       OR pg_has_role(session_user, 'pg_write_server_files', 'MEMBER')
       OR pg_has_role(session_user, 'pg_execute_server_program', 'MEMBER')
FROM pg_roles r WHERE r.rolname = session_user"""


class SqlSettings(Settings):
    url: str
    max_rows: int = Field(200, gt=0, le=100_000)
    max_chars: int = Field(100_000, gt=0, le=10_000_000)
    max_cell_chars: int = Field(2_000, gt=0)
    timeout: float = Field(10.0, gt=0, le=600)


def sql_query(**config: Any) -> Tool:
    """Run one read-only SQL query; rows come back as lists under their column names."""
    cfg = settings("sql_query", SqlSettings, config)
    postgres = cfg.url.startswith(_PG_SCHEMES)
    if postgres:
        target = "postgresql://" + cfg.url.split("://", 1)[1]
        run = _postgres
    else:
        target = os.path.realpath(os.path.expanduser(cfg.url.removeprefix("sqlite:///")))
        if not os.path.isfile(target):
            raise ToolError(f"sql_query: config `url`: no SQLite database file at `{target}`")
        run = _sqlite

    def query(sql: str) -> dict[str, Any]:
        if not sql.strip():
            raise ToolArgumentsError("the query must be a non-empty string")
        columns, rows, more = run(target, sql, cfg)
        return _result(columns, rows, more, cfg)

    engine = "PostgreSQL" if postgres else "SQLite"
    return Tool("sql_query",
                f"Run one read-only SQL query ({engine}) and get its rows. Only reading is "
                f"possible; at most {cfg.max_rows} rows and {cfg.timeout:g} s per query.",
                arguments({"sql": {"type": "string",
                                   "description": "a single SELECT (or WITH … SELECT)"}}, "sql"),
                query)


def _sqlite(path: str, sql: str, cfg: SqlSettings) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    uri = "file:" + urllib.parse.quote(path) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise ToolError(f"cannot open the database: {error}") from None
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA trusted_schema = OFF")  # schema objects may not call unsafe functions
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(cfg.max_chars * 4, 1_000_000))
        conn.set_authorizer(_authorize)
        deadline = time.monotonic() + cfg.timeout
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cursor = conn.execute(sql)
            rows = cursor.fetchmany(cfg.max_rows + 1)
        except sqlite3.Error as error:
            if time.monotonic() > deadline:
                raise ToolError(f"the query took longer than {cfg.timeout:g} s and was stopped") from None
            raise ToolError(f"the database refused the query: {error}") from None
        columns = [d[0] for d in cursor.description or ()]
        return columns, rows[:cfg.max_rows], len(rows) > cfg.max_rows
    finally:
        conn.close()


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None,
               _trigger: str | None) -> int:
    if action not in _SQLITE_ALLOWED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _SQLITE_FUNCTIONS_DENIED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() not in _SQLITE_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _postgres(url: str, sql: str, cfg: SqlSettings) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    try:
        import psycopg
    except ImportError:
        raise ToolError("sql_query on PostgreSQL needs `pip install 'agents_magic[postgres]'`") from None
    timeout_ms = int(cfg.timeout * 1000)
    try:
        conn = psycopg.connect(url, connect_timeout=max(1, int(cfg.timeout)),
                               options=f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}")
    except psycopg.Error as error:
        raise ToolError(f"cannot connect to the database: {error}") from None
    with contextlib.closing(conn):
        conn.read_only = True  # BEGIN READ ONLY
        try:
            if conn.execute(_PRIVILEGED).fetchone() != (False,):
                raise ToolError("sql_query refuses to run as a PostgreSQL role that can reach the "
                                "server's files or programs (superuser or pg_*_server_* member); "
                                "connect as a role with SELECT grants only")
            # A first query takes the snapshot, after which the transaction cannot turn read-write.
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
            # A server-side cursor: the database accepts one SELECT/VALUES statement, nothing else.
            with conn.cursor(name="sql_query_tool") as cursor:
                cursor.execute(sql)
                rows = cursor.fetchmany(cfg.max_rows + 1)
                columns = [d.name for d in cursor.description or ()]
        except psycopg.errors.QueryCanceled:
            raise ToolError(f"the query took longer than {cfg.timeout:g} s and was stopped") from None
        except psycopg.Error as error:
            raise ToolError(f"the database refused the query: {error}") from None
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
    return columns, rows[:cfg.max_rows], len(rows) > cfg.max_rows


def _cell(value: Any, limit: int) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = "base64:" + base64.b64encode(bytes(value)[:limit]).decode()
    elif isinstance(value, (datetime.date, datetime.time)):
        value = value.isoformat()
    elif isinstance(value, (decimal.Decimal, uuid.UUID)):
        value = str(value)
    elif not isinstance(value, str):
        value = repr(value)
    text, cut = clip(value, limit)
    return text + "…" if cut else text


def _result(columns: list[str], rows: list[tuple[Any, ...]], more: bool, cfg: SqlSettings) -> dict[str, Any]:
    out, used = [], 0
    for row in rows:
        cells = [_cell(v, cfg.max_cell_chars) for v in row]
        used += sum(len(str(c)) for c in cells)
        if used > cfg.max_chars:
            more = True
            break
        out.append(cells)
    return {"columns": columns, "rows": out, "row_count": len(out), "truncated": more}
