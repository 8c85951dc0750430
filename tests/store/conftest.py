"""Fixtures for the run store, sinks, cache, reports and estimate tests.

The fake OpenAI-compatible server (``fake_llm``) comes from tests/conftest.py. Every test gets
its own data directory (``AGENTS_MAGIC_DATA_DIR``) and fresh settings. The
``store_url`` fixture is parametrised over a SQLite file and the local PostgreSQL server (one
throw-away schema per test, dropped afterwards); the PostgreSQL case is skipped only when the
server does not answer.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # store_helpers.py

PG_URL = os.environ.get("AGENTS_MAGIC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, object] = {}


def pg_available() -> str | None:
    """None when the server answers, else the reason (checked once per session)."""
    if "reason" not in _pg_state:
        import psycopg  # a missing driver is an install mistake, not a reason to skip

        try:
            dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(dsn, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["reason"] = None
        except (psycopg.OperationalError, OSError) as exc:  # not running, refused, no database
            _pg_state["reason"] = f"PostgreSQL at {PG_URL} does not answer: {exc}"
    return _pg_state["reason"]  # type: ignore[return-value]


def _pg_exec(sql: str) -> None:
    import psycopg

    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """A private data directory and fresh settings; every shared sink, store and cache that the
    test opened is closed afterwards."""
    from agents_magic import _settings

    directory = tmp_path / "data"
    monkeypatch.setenv("AGENTS_MAGIC_DATA_DIR", str(directory))
    for name in ("AGENTS_MAGIC_STORAGE_URL", "AGENTS_MAGIC_MLFLOW_TRACKING_URI",
                 "AGENTS_MAGIC_MLFLOW", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    # Tests hand their sinks to each run themselves; the session's default sinks and the LLM
    # cache are switched on only where a test is about them.
    monkeypatch.setenv("AGENTS_MAGIC_STORE", "0")
    monkeypatch.setenv("AGENTS_MAGIC_CACHE", "0")
    _settings.reset()
    yield directory
    close_everything()
    from agents_magic.store._cache import close_caches

    close_caches()
    _settings.reset()


def close_everything() -> None:
    """Stop every sink writer still running (so nothing writes after the test) and dispose
    every store engine."""
    from agents_magic.sinks import _worker, close_sinks
    from agents_magic.store._db import close_stores

    close_sinks(timeout=30)
    for writer in list(_worker._live):
        writer.close(30)
    close_stores()


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'runs.db'}"


@pytest.fixture
def pg_url():
    """A PostgreSQL URL whose search_path is a fresh schema (dropped afterwards)."""
    reason = pg_available()
    if reason:
        pytest.skip(reason)
    schema = f"am_test_{uuid.uuid4().hex[:12]}"
    _pg_exec(f"CREATE SCHEMA {schema}")
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    close_everything()  # no writer or pooled connection may touch the schema any more
    _pg_exec(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The run store URL, once per backend."""
    if request.param == "sqlite":
        return _sqlite_url(tmp_path)
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path):
    return _sqlite_url(tmp_path)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory):
    """An MLflow SQLite tracking database created once (MLflow's own migrations take seconds);
    tests copy it into their data directory."""
    pytest.importorskip("mlflow")
    directory = tmp_path_factory.mktemp("mlflow-template")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{directory / 'mlflow.db'}")
    client.search_experiments()
    try:
        client._tracking_client.store.engine.dispose()
    except AttributeError:
        pass
    return directory / "mlflow.db"


@pytest.fixture
def mlflow_db(mlflow_template, data_dir):
    """The default MLflow tracking store of this test's data directory, already migrated."""
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(mlflow_template, data_dir / "mlflow.db")
    return data_dir / "mlflow.db"
