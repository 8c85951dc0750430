"""Run checkpoints, kept by LangGraph's own savers so a failed or cancelled run can be resumed.

The saver follows the run store: PostgreSQL when the store is PostgreSQL, else an SQLite file
beside the store's database (``runs.db`` → ``runs.checkpoints.db``). A run's checkpoint is
taken once, when it ends, and kept in memory (:class:`RunCheckpoint`); only a run that did not
succeed, the one that may be resumed, writes it to the saver. Savers are opened on first use,
one per URL and event loop, and closed when their loop shuts down.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from pathlib import Path
from typing import Any, AsyncIterator

from langgraph.checkpoint.base import BaseCheckpointSaver

from ._loop import close_at_loop_end

_savers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=16)
def checkpoint_url(storage_url: str, data_dir: Path) -> str:
    """Where the checkpoints of runs recorded at ``storage_url`` go."""
    from sqlalchemy.engine import make_url

    url = make_url(storage_url)
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql").render_as_string(hide_password=False)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        return f"sqlite:///{db.with_name(db.stem + '.checkpoints.db')}"
    return f"sqlite:///{Path(data_dir) / 'checkpoints.db'}"


async def saver(url: str) -> Any:
    """The LangGraph checkpoint saver for ``url`` on the running event loop."""
    loop = asyncio.get_running_loop()
    per_loop = _savers.setdefault(loop, {})
    found = per_loop.get(url)
    if found is not None:
        return found
    async with _locks.setdefault(loop, asyncio.Lock()):
        if url not in per_loop:
            opened, close = await (_postgres(url) if url.startswith("postgresql") else _sqlite(url))
            per_loop[url] = opened
            close_at_loop_end(close)
    return per_loop[url]


async def _sqlite(url: str) -> tuple[Any, Any]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = await aiosqlite.connect(str(path), timeout=30)
    await connection.execute("PRAGMA journal_mode=WAL")
    await connection.execute("PRAGMA synchronous=NORMAL")
    found = AsyncSqliteSaver(connection)
    await found.setup()
    return found, connection.close


async def _postgres(url: str) -> tuple[Any, Any]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg import AsyncConnection
    from psycopg.rows import dict_row

    connection = await AsyncConnection.connect(url, autocommit=True, prepare_threshold=0,
                                               row_factory=dict_row)
    found = AsyncPostgresSaver(connection)  # type: ignore[arg-type]
    await found.setup()
    return found, connection.close


class RunCheckpoint(BaseCheckpointSaver):  # type: ignore[type-arg]
    """One run's checkpoint, held in memory until :meth:`persist` writes it to ``saver``.

    Nothing is serialised for a run that succeeds; reads (a resumed run loading its state) go
    to ``saver``, and a fresh run reads nothing at all.
    """

    def __init__(self, saver: Any, *, fresh: bool) -> None:
        super().__init__(serde=saver.serde)
        self.saver = saver
        self.fresh = fresh
        self.puts: list[tuple[Any, ...]] = []
        self.writes: list[tuple[Any, ...]] = []

    async def aget_tuple(self, config: Any) -> Any:
        return None if self.fresh else await self.saver.aget_tuple(config)

    async def alist(self, config: Any, **options: Any) -> AsyncIterator[Any]:
        if not self.fresh:
            async for item in self.saver.alist(config, **options):
                yield item

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        self.puts.append((config, checkpoint, metadata, new_versions))
        conf = config["configurable"]
        return {"configurable": {"thread_id": conf["thread_id"],
                                 "checkpoint_ns": conf.get("checkpoint_ns", ""),
                                 "checkpoint_id": checkpoint["id"]}}

    async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        self.writes.append((config, list(writes), task_id, task_path))

    def get_next_version(self, current: Any, channel: Any) -> Any:
        return self.saver.get_next_version(current, channel)

    async def persist(self) -> None:
        """Write what the run checkpointed, so it can be resumed; known keys are scrubbed from
        the state first, as from everything else written."""
        from .._secrets import scrub_data

        puts, writes, self.puts, self.writes = self.puts, self.writes, [], []
        for config, checkpoint, metadata, versions in puts:
            checkpoint = {**checkpoint, "channel_values": scrub_data(checkpoint["channel_values"])}
            await self.saver.aput(config, checkpoint, metadata, versions)
        for config, items, task_id, task_path in writes:
            items = [(channel, scrub_data(value)) for channel, value in items]
            await self.saver.aput_writes(config, items, task_id, task_path)
