"""Open the run store: one engine per URL, migrations on open, stale runs reconciled.

SQLite (the default, one file under the data directory) runs in WAL mode with a busy timeout,
and every write transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on the
busy timeout instead of failing with "database is locked" when a read turns into a write.
Any other SQLAlchemy URL works; PostgreSQL is tested. Schema changes are Alembic migrations
shipped in ``migrations/`` and applied from code, so no ``alembic.ini`` is needed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

from ..errors import AgentsMagicError
from ._schema import runs

if TYPE_CHECKING:
    from .._settings import Settings

#: The newest migration; checked against the migration scripts by the tests. Opening a store
#: whose version already equals it skips loading Alembic altogether (milliseconds, not 100s).
HEAD = "0005"
VERSION_TABLE = "agents_magic_version"
MIGRATIONS = Path(__file__).with_name("migrations")
#: Identifies this process in ``runs.process`` so start-up reconciliation never touches a run
#: that is still going on here (a PID alone can be reused after a crash).
PROCESS = uuid.uuid4().hex
HOST = socket.gethostname()[:255]
STALE_AFTER_S = 24 * 3600.0
SQLITE_BUSY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10

_stores: dict[str, RunStore] = {}
_lock = threading.Lock()


class StoreError(AgentsMagicError):
    """The run store cannot be opened or used (bad URL, server down, schema from a newer version)."""


def safe_url(url: str) -> str:
    """``url`` with any password masked, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def _is_memory(url: sa.engine.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(url: str, *, immediate: bool = False) -> sa.engine.Engine:
    """An engine for ``url``; for SQLite the directory is created and the pragmas set."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg",
                                                                                  "psycopg2"):
        # An unreachable server must fail in seconds, not hang a writer thread for minutes.
        return sa.create_engine(parsed, pool_pre_ping=True,
                                connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S,
                                                "check_same_thread": False}}
    if _is_memory(parsed):
        kwargs["poolclass"] = sa.pool.StaticPool  # one shared in-memory database
    elif parsed.database and not parsed.database.startswith("file:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; "begin" below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}",
                       "synchronous=NORMAL", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def current_revision(connection: sa.engine.Connection) -> str | None:
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def alembic_config() -> Any:
    """An Alembic ``Config`` built in code, pointing at the packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: sa.engine.Engine) -> bool:
    """Bring the schema to :data:`HEAD`; return True when a migration ran."""
    with engine.connect() as connection:
        if current_revision(connection) == HEAD:
            connection.rollback()
            return False
        connection.rollback()
    from alembic import command
    from alembic.util import CommandError

    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes opening a fresh database at once: the second waits, then finds
            # the schema in place.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(727274551)"))
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise StoreError(
                f"the run store at {safe_url(str(engine.url))} has schema version "
                f"{current_revision(connection)!r}, which this agents_magic does not know "
                f"(it was probably created by a newer release): {exc}") from None
    return True


def _pid_alive(pid: int) -> bool | None:
    """True/False on POSIX; None where it cannot be told cheaply (Windows)."""
    if os.name != "posix":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_reason(row: Any, now: float, stale_after_s: float = STALE_AFTER_S) -> str | None:
    """Why a ``running`` row cannot still be running, or None when it may be."""
    if row.process == PROCESS:
        return None  # a run in progress in this very process
    if row.host == HOST and row.pid is not None:
        alive = _pid_alive(row.pid)
        if alive is False or row.pid == os.getpid():
            return (f"the process that ran it (pid {row.pid} on {row.host}) ended without "
                    "recording a result, probably a crash or a killed kernel; marked failed "
                    "when the run store was next opened")
        if alive:
            return None  # another live process on this machine
    if now - float(row.started_at or 0) > stale_after_s:
        hours = stale_after_s / 3600
        return (f"still marked running more than {hours:g} h after it started "
                f"(on {row.host or 'an unknown host'}), so its process is taken to be gone; "
                "marked failed when the run store was next opened")
    return None


class RunStore:
    """The run store at one URL: ``engine`` for reads, ``write_engine`` for writes.

    Use :func:`open_store`, which opens each URL once per process.
    """

    def __init__(self, url: str, *, migrate: bool = True, reconcile: bool = True,
                 stale_after_s: float = STALE_AFTER_S) -> None:
        self.url = url
        parsed = sa.engine.make_url(url)
        self.dialect = parsed.get_backend_name()
        try:
            self.engine = make_engine(url)
            self.write_engine = (make_engine(url, immediate=True)
                                 if self.dialect == "sqlite" and not _is_memory(parsed)
                                 else self.engine)
            self.migrated = upgrade(self.write_engine) if migrate else False
            self.reconciled = self.reconcile_stale(stale_after_s) if reconcile else []
        except StoreError:
            raise
        except (sa.exc.SQLAlchemyError, OSError, ImportError) as exc:
            raise StoreError(f"cannot open the run store at {safe_url(url)}: "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc

    def reconcile_stale(self, stale_after_s: float = STALE_AFTER_S) -> list[str]:
        """Mark runs left ``running`` by a crashed process as ``failed``; return their ids."""
        now = time.time()
        done = []
        with self.write_engine.begin() as connection:
            rows = connection.execute(
                sa.select(runs.c.run_id, runs.c.host, runs.c.pid, runs.c.process,
                          runs.c.started_at).where(runs.c.status == "running")).all()
            for row in rows:
                reason = stale_reason(row, now, stale_after_s)
                if reason is None:
                    continue
                connection.execute(
                    sa.update(runs).where(runs.c.run_id == row.run_id,
                                          runs.c.status == "running")
                    .values(status="failed", error=reason, finished_at=now))
                done.append(row.run_id)
        return done

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()

    def __repr__(self) -> str:
        return f"<RunStore {safe_url(self.url)}>"


def default_url(settings: Settings | None = None) -> str:
    """The storage URL of ``settings`` (default: the session's)."""
    from .._settings import resolve

    return resolve(settings).resolved_storage_url


def open_store(url: str | None = None) -> RunStore:
    """The process-wide :class:`RunStore` for ``url`` (default: the session's storage URL),
    migrated and reconciled on first use."""
    url = url or default_url()
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = RunStore(url)
        return store


def close_stores() -> None:
    """Dispose every engine opened by :func:`open_store` (tests, shutdown)."""
    with _lock:
        for store in _stores.values():
            store.dispose()
        _stores.clear()
