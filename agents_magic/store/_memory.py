"""Namespaced persistent memory in the run store's ``memory_entries`` table.

A namespace is ``{agent}:{workflow|*}:{node|*}``; the key has its own column. The scopes map to
namespaces: ``global`` → ``default:*:*``, ``workflow`` → ``default:<workflow>:*``, ``node`` →
``default:<workflow>:<node>``. An entry whose ``expires_at`` has passed is never returned.

What is atomic:

- every call to :meth:`Memory.apply` (and so :meth:`Memory.set`) is one transaction: its writes
  all happen or none do;
- ``set`` is one upsert (``INSERT ... ON CONFLICT (namespace, key) DO UPDATE``); the last
  writer wins;
- ``append`` and ``add`` read, combine and write inside that transaction with the row locked:
  on SQLite every write transaction begins with ``BEGIN IMMEDIATE`` (one writer at a time), on
  PostgreSQL the row is first made to exist (``ON CONFLICT DO NOTHING``), then locked with
  ``SELECT ... FOR UPDATE``. Concurrent appends and additions therefore lose nothing;
- a value read in one call and written back with ``set`` in another is *not* protected: a
  concurrent write in between is overwritten. Use ``append``/``add`` for shared counters and
  logs.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import TYPE_CHECKING, Any, Iterable

import sqlalchemy as sa

from ..config._schema import MEMORY_MODES
from ._memory_names import AGENT, ANY, MemoryStoreError, describe, namespace, scope_name
from ._memory_ops import MISSING, MemoryValueError, combine
from ._schema import memory_entries as table

if TYPE_CHECKING:
    from ._db import RunStore

__all__ = ["AGENT", "ANY", "Memory", "MemoryStoreError", "describe", "namespace",
           "open_memory", "scope_name"]
MAX_KEY = 400


def _key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise MemoryStoreError(f"a memory key must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY:
        raise MemoryStoreError(f"memory key `{key[:40]}…` is longer than {MAX_KEY} characters")
    return key


def jsonable(value: Any, key: str) -> Any:
    """``value`` if it is JSON-like data (what the store keeps), else MemoryStoreError."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MemoryStoreError(f"memory `{key}`: values must be JSON-like data (dict, list, str, "
                               f"number, bool, None): {exc}") from None
    return value


def _live(now: float) -> Any:
    return sa.or_(table.c.expires_at.is_(None), table.c.expires_at > now)


class Memory:
    """Memory entries of one run store. Every method is blocking: call it from a thread when
    on an event loop (the engine does)."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        dialect = store.dialect
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            raise MemoryStoreError(f"memory needs a SQLite or PostgreSQL run store, not {dialect}")
        self._insert = insert

    # -- reads -----------------------------------------------------------------------------
    def get_many(self, ns: str, keys: Iterable[str]) -> dict[str, Any]:
        """The live values of ``keys`` in ``ns`` (missing and expired keys are absent)."""
        keys = [_key(k) for k in keys]
        if not keys:
            return {}
        query = sa.select(table.c.key, table.c.value).where(
            table.c.namespace == ns, table.c.key.in_(keys), _live(time.time()))
        with self.store.engine.connect() as connection:
            return {row.key: row.value for row in connection.execute(query)}

    def get(self, ns: str, key: str, default: Any = None) -> Any:
        return self.get_many(ns, [key]).get(key, default)

    def entries(self, namespaces: Iterable[str] | None = None, *, prefix: str | None = None,
                key: str | None = None, include_expired: bool = False) -> list[dict[str, Any]]:
        """Rows (namespace, key, value, created_at, updated_at, expires_at), oldest first."""
        query = sa.select(table.c.namespace, table.c.key, table.c.value, table.c.created_at,
                          table.c.updated_at, table.c.expires_at)
        if namespaces is not None:
            query = query.where(table.c.namespace.in_(list(namespaces)))
        if prefix is not None:
            query = query.where(table.c.namespace.startswith(prefix, autoescape=True))
        if key is not None:
            query = query.where(table.c.key == key)
        if not include_expired:
            query = query.where(_live(time.time()))
        with self.store.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(
                query.order_by(table.c.namespace, table.c.created_at, table.c.key))]

    # -- writes ----------------------------------------------------------------------------
    def set(self, ns: str, key: str, value: Any, *, ttl: float | None = None) -> None:
        self.apply(ns, [("set", key, value, None)], ttl=ttl)

    def append(self, ns: str, key: str, item: Any, *, keep: int | None = None,
               ttl: float | None = None) -> Any:
        return self.apply(ns, [("append", key, item, keep)], ttl=ttl)[key]

    def add(self, ns: str, key: str, amount: float = 1, *, ttl: float | None = None) -> Any:
        return self.apply(ns, [("add", key, amount, None)], ttl=ttl)[key]

    def apply(self, ns: str, ops: Iterable[tuple[str, str, Any, int | None]], *,
              ttl: float | None = None) -> dict[str, Any]:
        """Apply ``(mode, key, value, keep)`` writes in one transaction; the new values by key.

        ``ttl`` (seconds) sets every written entry's expiry; None keeps them forever.
        """
        ops = [(mode, _key(key), jsonable(value, key), keep) for mode, key, value, keep in ops]
        for mode, key, *_ in ops:
            if mode not in MEMORY_MODES:
                raise MemoryStoreError(f"memory `{key}`: unknown write mode `{mode}`; modes: "
                                       f"{', '.join(MEMORY_MODES)}")
        if ttl is not None and not (isinstance(ttl, (int, float)) and math.isfinite(ttl) and ttl > 0):
            raise MemoryStoreError(f"a memory ttl is a positive number of seconds, got {ttl!r}")
        if not ops:
            return {}
        written: dict[str, Any] = {}
        with self.store.write_engine.begin() as connection:
            now = time.time()
            expires = now + ttl if ttl else None
            for mode, key, value, keep in ops:
                if mode != "set":
                    current = self._locked(connection, ns, key, now)
                    try:
                        value = combine(mode, current, value, keep)
                    except MemoryValueError as exc:
                        raise MemoryStoreError(f"memory `{key}`: {exc}") from None
                self._upsert(connection, ns, key, value, now, expires)
                written[key] = value
        return written

    def _locked(self, connection: Any, ns: str, key: str, now: float) -> Any:
        """The live value of ``key`` with its row locked until the transaction ends."""
        # A placeholder row (already expired, so no reader sees it) gives FOR UPDATE a row to
        # lock even for a key nobody has written yet; concurrent inserts wait on its key.
        connection.execute(self._insert(table).values(
            namespace=ns, key=key, value=None, created_at=now, updated_at=now, expires_at=0.0
        ).on_conflict_do_nothing(index_elements=["namespace", "key"]))
        row = connection.execute(
            sa.select(table.c.value, table.c.expires_at)
            .where(table.c.namespace == ns, table.c.key == key).with_for_update()).first()
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return MISSING
        return row.value

    def _upsert(self, connection: Any, ns: str, key: str, value: Any, now: float,
                expires: float | None) -> None:
        stmt = self._insert(table).values(namespace=ns, key=key, value=value, created_at=now,
                                          updated_at=now, expires_at=expires)
        # An entry that had expired starts again: its creation time is this write's.
        restarted = sa.case((sa.and_(table.c.expires_at.is_not(None), table.c.expires_at <= now),
                             stmt.excluded.created_at), else_=table.c.created_at)
        connection.execute(stmt.on_conflict_do_update(
            index_elements=["namespace", "key"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at,
                  "expires_at": stmt.excluded.expires_at, "created_at": restarted}))

    def delete(self, ns: str, key: str) -> bool:
        """Remove one entry; whether a live one was there."""
        with self.store.write_engine.begin() as connection:
            done = connection.execute(sa.delete(table).where(
                table.c.namespace == ns, table.c.key == _key(key), _live(time.time())))
        return bool(done.rowcount)

    def clear(self, namespaces: Iterable[str] | None = None, *, prefix: str | None = None) -> int:
        """Remove every entry of ``namespaces`` (or under ``prefix``; neither: all); how many."""
        query = sa.delete(table)
        if namespaces is not None:
            query = query.where(table.c.namespace.in_(list(namespaces)))
        if prefix is not None:
            query = query.where(table.c.namespace.startswith(prefix, autoescape=True))
        with self.store.write_engine.begin() as connection:
            return int(connection.execute(query).rowcount or 0)

    def purge_expired(self) -> int:
        """Delete expired entries (reads skip them anyway); how many were deleted."""
        with self.store.write_engine.begin() as connection:
            return int(connection.execute(sa.delete(table).where(
                table.c.expires_at.is_not(None), table.c.expires_at <= time.time())).rowcount or 0)


_memories: dict[int, Memory] = {}
_lock = threading.Lock()


def open_memory(url: str | None = None) -> Memory:
    """The :class:`Memory` of the run store at ``url`` (default: the session's)."""
    from ._db import open_store

    store = open_store(url)
    with _lock:
        memory = _memories.get(id(store))
        if memory is None or memory.store is not store:
            memory = _memories[id(store)] = Memory(store)
            memory.purge_expired()  # once per store and process, so expired rows do not pile up
        return memory
