"""The schema: migrations shipped in the package, applied from code, matching the models."""

from __future__ import annotations

import os
import socket
import time

import pytest
import sqlalchemy as sa
from store_helpers import rows

from agents_magic.store import _db
from agents_magic.store._schema import metadata, runs


def test_head_constant_matches_the_migration_scripts():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_db.alembic_config())
    assert script.get_heads() == [_db.HEAD]


def test_no_alembic_ini_is_needed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing to find here
    store = _db.RunStore(f"sqlite:///{tmp_path / 'a' / 'b' / 'runs.db'}")
    assert store.migrated
    assert (tmp_path / "a" / "b" / "runs.db").exists()  # directory created


def test_migrated_schema_matches_the_models(store_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = _db.open_store(store_url)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": _db.VERSION_TABLE})
        diff = compare_metadata(context, metadata)
        assert _db.current_revision(connection) == _db.HEAD
    assert diff == []
    assert set(sa.inspect(store.engine).get_table_names()) >= {
        "workflows", "runs", "node_executions", "memory_entries", _db.VERSION_TABLE}


def test_reopening_skips_alembic(store_url):
    assert _db.RunStore(store_url).migrated is True
    assert _db.RunStore(store_url).migrated is False


def test_downgrade_and_upgrade_again(sqlite_url):
    from alembic import command

    store = _db.RunStore(sqlite_url)
    config = _db.alembic_config()
    with store.write_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert "runs" not in sa.inspect(store.engine).get_table_names()
    assert _db.upgrade(store.write_engine) is True
    assert "runs" in sa.inspect(store.engine).get_table_names()


def test_a_newer_schema_is_refused_with_a_clear_error(sqlite_url):
    store = _db.RunStore(sqlite_url)
    with store.write_engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {_db.VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(_db.StoreError, match="newer release"):
        _db.RunStore(sqlite_url)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url):
    store = _db.open_store(sqlite_url)
    with store.write_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_bad_url_gives_a_store_error_without_the_password():
    with pytest.raises(_db.StoreError) as info:
        _db.RunStore("postgresql+psycopg://user:hunter2secret@127.0.0.1:1/none")
    assert "hunter2secret" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)


def _running(run_id, *, host, pid, process, started_at):
    return {"run_id": run_id, "workflow": "w", "status": "running", "started_at": started_at,
            "host": host, "pid": pid, "process": process}


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_runs_are_reconciled_on_start_up(store_url):
    store = _db.RunStore(store_url)
    now = time.time()
    host = socket.gethostname()
    with store.write_engine.begin() as connection:
        connection.execute(sa.insert(runs), [
            _running("crashed", host=host, pid=_dead_pid(), process="old", started_at=now - 5),
            _running("alive", host=host, pid=os.getppid(), process="other", started_at=now - 5),
            _running("mine", host=host, pid=os.getpid(), process=_db.PROCESS, started_at=now),
            _running("remote-old", host="elsewhere", pid=1, process="x", started_at=now - 90000),
            _running("remote-new", host="elsewhere", pid=1, process="x", started_at=now - 60),
            {**_running("done", host=host, pid=1, process="x", started_at=now - 9),
             "status": "succeeded"},
        ])
    reopened = _db.RunStore(store_url)
    assert sorted(reopened.reconciled) == ["crashed", "remote-old"]
    status = {r["run_id"]: r for r in rows(store_url, "SELECT run_id, status, error FROM runs")}
    assert status["crashed"]["status"] == "failed"
    assert "ended without recording a result" in status["crashed"]["error"]
    assert status["remote-old"]["status"] == "failed"
    assert "24 h" in status["remote-old"]["error"]
    for run_id in ("alive", "mine", "remote-new"):
        assert status[run_id]["status"] == "running"
    assert status["done"]["status"] == "succeeded"
