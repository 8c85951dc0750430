"""sql_query against a real SQLite file and the real PostgreSQL: reads work, nothing else does,
and the database (and the file system around it) is unchanged after every refusal."""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from conftest import Box

from agents_magic.tools import ToolError
from agents_magic.tools.builtin import BUILTINS

PG_URL = os.environ.get("AGENTS_MAGIC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
READER = "builtins_tool_reader"


@pytest.fixture
def db(box: Box) -> Path:
    path = box.root / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, blob BLOB)")
        conn.execute("CREATE INDEX items_name ON items(name)")
        conn.executemany("INSERT INTO items(name, blob) VALUES (?, ?)",
                         [(f"item{i}", b"\x00\x01") for i in range(500)])
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sqlite_reads(db: Path):
    query = BUILTINS["sql_query"](url=str(db))
    got = query(sql="SELECT id, name, blob FROM items WHERE id <= 2 ORDER BY id")
    assert got["columns"] == ["id", "name", "blob"]
    assert got["rows"] == [[1, "item0", "base64:AAE="], [2, "item1", "base64:AAE="]]
    assert query(sql="PRAGMA table_info(items)")["row_count"] == 3
    assert query(sql="WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 5) "
                     "SELECT sum(x) FROM r")["rows"] == [[15]]
    capped = BUILTINS["sql_query"](url=f"sqlite:///{db}", max_rows=10)(sql="SELECT * FROM items")
    assert capped["row_count"] == 10 and capped["truncated"]
    cell = BUILTINS["sql_query"](url=str(db), max_cell_chars=5)(sql="SELECT 'abcdefghij'")
    assert cell["rows"] == [["abcde…"]]


def test_sqlite_config(box: Box):
    with pytest.raises(ToolError, match="no SQLite database"):
        BUILTINS["sql_query"](url=str(box.root / "missing.db"))
    with pytest.raises(ToolError, match="did you mean `max_rows`"):
        BUILTINS["sql_query"](url="x.db", max_row=3)


SQLITE_ABUSE = [
    "INSERT INTO items(name) VALUES ('x')",
    "UPDATE items SET name = 'x'",
    "DELETE FROM items",
    "DROP TABLE items",
    "CREATE TABLE t(a)",
    "CREATE TEMP TABLE t(a)",
    "CREATE VIEW v AS SELECT 1",
    "ALTER TABLE items ADD COLUMN c",
    "REPLACE INTO items(id, name) VALUES (1, 'x')",
    "ATTACH DATABASE '{outside}/new.db' AS other",
    "VACUUM INTO '{outside}/copy.db'",
    "VACUUM",
    "PRAGMA journal_mode = WAL",
    "PRAGMA user_version = 5",
    "PRAGMA writable_schema = ON",
    "PRAGMA query_only = OFF",
    "SELECT load_extension('{outside}/evil')",
    "SELECT writefile('{outside}/w.txt', 'x')",
    "SELECT * FROM items; DELETE FROM items",
    "BEGIN IMMEDIATE",
    "REINDEX",
    "ANALYZE",
    "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
]


@pytest.mark.parametrize("sql", SQLITE_ABUSE)
def test_abuse_sqlite(box: Box, db: Path, sql: str):
    query = BUILTINS["sql_query"](url=str(db), timeout=1)
    before, files = digest(db), sorted(os.listdir(box.root))
    box.refused(lambda: query(sql=sql.format(outside=box.outside)))
    assert digest(db) == before and sorted(os.listdir(box.root)) == files


# ---------------------------------------------------------------- PostgreSQL


def _conninfo(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


@pytest.fixture(scope="module")
def pg():
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(_conninfo(PG_URL), autocommit=True)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable: {error}")
    with admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER,)).fetchone():
            admin.execute(f"CREATE ROLE {READER} LOGIN")
        admin.execute("DROP TABLE IF EXISTS tool_pets")
        admin.execute("CREATE TABLE tool_pets(id serial PRIMARY KEY, name text)")
        admin.execute("INSERT INTO tool_pets(name) SELECT 'pet' || g FROM generate_series(1, 300) g")
        admin.execute(f"GRANT SELECT ON tool_pets TO {READER}")
        admin.execute(f"GRANT USAGE ON SEQUENCE tool_pets_id_seq TO {READER}")
        yield admin
        admin.execute("DROP TABLE IF EXISTS tool_pets")


def reader_url() -> str:
    rest = _conninfo(PG_URL).split("://", 1)[1].split("@", 1)[-1]
    return f"postgresql+psycopg://{READER}@{rest}"


def pg_state(admin) -> tuple:
    return (admin.execute("SELECT count(*), md5(string_agg(name, ',' ORDER BY id)) FROM tool_pets").fetchone(),
            admin.execute("SELECT last_value FROM tool_pets_id_seq").fetchone(),
            admin.execute("SELECT count(*) FROM pg_class").fetchone())


def test_postgres_reads(pg):
    query = BUILTINS["sql_query"](url=reader_url(), max_rows=50)
    got = query(sql="SELECT id, name FROM tool_pets WHERE id <= 2 ORDER BY id")
    assert got == {"columns": ["id", "name"], "rows": [[1, "pet1"], [2, "pet2"]], "row_count": 2,
                   "truncated": False}
    assert query(sql="SELECT * FROM tool_pets")["truncated"]
    assert query(sql="VALUES (1, 'a')")["rows"] == [[1, "a"]]


def test_postgres_refuses_privileged_roles(pg, box: Box):
    query = BUILTINS["sql_query"](url=PG_URL)
    box.refused(lambda: query(sql="SELECT 1"), match="superuser")


PG_ABUSE = [
    "INSERT INTO tool_pets(name) VALUES ('x')",
    "UPDATE tool_pets SET name = 'x'",
    "DELETE FROM tool_pets",
    "TRUNCATE tool_pets",
    "DROP TABLE tool_pets",
    "CREATE TABLE tool_new(a int)",
    "CREATE TEMP TABLE tool_tmp(a int)",
    "SELECT 1; DELETE FROM tool_pets",
    "COMMIT; DELETE FROM tool_pets",
    "WITH d AS (DELETE FROM tool_pets RETURNING *) SELECT * FROM d",
    "SELECT nextval('tool_pets_id_seq')",
    "COPY tool_pets TO PROGRAM '{marker}'",
    "COPY tool_pets TO '{outside}/dump.csv'",
    "SELECT pg_read_file('{outside}/secret.txt')",
    "SELECT lo_import('{outside}/secret.txt')",
    "DO $$ BEGIN DELETE FROM tool_pets; END $$",
    "SET TRANSACTION READ WRITE",
    "SELECT pg_sleep(30)",
    "LOCK TABLE tool_pets",
]


@pytest.mark.parametrize("sql", PG_ABUSE)
def test_abuse_postgres(pg, box: Box, sql: str):
    query = BUILTINS["sql_query"](url=reader_url(), timeout=1)
    before = pg_state(pg)
    box.refused(lambda: query(sql=sql.format(marker=box.marker, outside=box.outside)))
    assert pg_state(pg) == before
