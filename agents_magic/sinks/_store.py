"""``StoreSink``: record runs in the run store as they happen, without making the run wait.

A run row is written on ``RunStarted`` (status ``running``), one row per node execution as it
finishes or fails, and the final status and totals on ``RunFinished``. The engine only pays for
a ``put_nowait``; one background thread per sink writes each batch of events: what the runs'
outcomes are in one transaction, then their inputs and outputs in a second, so a run's
terminal status never waits behind its bulky payloads. Texts are cut to ``max_text``
characters, then redacted (:mod:`agents_magic._secrets`), so a huge value costs no more than a small one.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
import warnings
from typing import Any

from ..engine.events import NodeFailed, NodeFinished, RunFinished, RunStarted
from .._secrets import Redactor, jsonable, mask_url
from ._worker import BackgroundWriter

MAX_TEXT = 20_000
WRITE_ATTEMPTS = 3
_RECORDED = (RunStarted, NodeFinished, NodeFailed, RunFinished)


def workflow_hash(yaml_text: str) -> str:
    """Same short content hash as :attr:`agents_magic.Workflow.hash`."""
    return hashlib.sha256(yaml_text.encode()).hexdigest()[:16]


class StoreSink:
    """Record every run it sees in the run store at ``url``.

    Parameters
    ----------
    url
        Any SQLAlchemy URL; default: the session's storage URL (SQLite under the data directory).
    experiment, variant
        Stored with every run this sink records (evaluation and A/B runs set them).
    max_text
        Characters kept of each prompt, response, error and string value.

    Examples
    --------
    >>> sink = StoreSink("sqlite:///runs.db")            # doctest: +SKIP
    >>> agents_magic.run(wf, {"text": "..."}, sinks=[sink])  # doctest: +SKIP
    >>> sink.flush()                                     # doctest: +SKIP
    """

    def __init__(self, url: str | None = None, *, experiment: str | None = None,
                 variant: str | None = None, max_text: int = MAX_TEXT) -> None:
        if url is None:
            from .._settings import resolve

            url = resolve().resolved_storage_url
        self.url = url
        self.experiment = experiment
        self.variant = variant
        self.max_text = max_text
        self.redact = Redactor()
        self._store: Any = None
        self._warned = False
        self._known_runs: set[str] = set()
        self._known_workflows: set[tuple[str, str]] = set()
        # Nothing heavy here: sqlalchemy is imported by the writer thread, not the engine's loop.
        self._writer = BackgroundWriter(f"agents-magic-store {mask_url(url)}", self._write,
                                        self._failed, essential=True)

    # -- engine side: must be fast and never raise ------------------------------------------
    def __call__(self, event: Any) -> None:
        if isinstance(event, _RECORDED):
            self._writer.put(event)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every event received so far is written; False on timeout."""
        return self._writer.flush(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush and stop the writer thread (the store's engine stays open for other users)."""
        self._writer.close(timeout)

    def __repr__(self) -> str:
        return f"<StoreSink {mask_url(self.url)}>"

    # -- writer thread ----------------------------------------------------------------------
    def _failed(self, exc: BaseException) -> None:
        # What was lost may include run rows: later events of those runs get placeholders.
        self._known_runs.clear()
        self._known_workflows.clear()
        if not self._warned:
            self._warned = True
            cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            warnings.warn(f"agents_magic: runs are not being recorded in the run store at "
                          f"{mask_url(self.url)}: {cause}", RuntimeWarning, stacklevel=2)

    def _open(self) -> Any:
        if self._store is None:
            from ..store._db import open_store

            self._store = open_store(self.url)
        return self._store

    def _write(self, batch: list[Any]) -> None:
        """Write a batch in two transactions: first what a run's outcome is (rows, statuses,
        totals, node executions), then its inputs and outputs, the bulky part."""
        store = self._open()
        starts: list[dict[str, Any]] = []
        workflows: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        finishes: list[dict[str, Any]] = []
        placeholders: list[dict[str, Any]] = []
        payloads: list[tuple[str, str, Any]] = []  # (run_id, column, value)
        for event in batch:
            if isinstance(event, RunStarted):
                self.redact.refresh(event.yaml)
                row, wf = self._run_row(event)
                starts.append(row)
                payloads.append((event.run_id, "inputs", event.inputs))
                if wf is not None:
                    workflows.append(wf)
                self._known_runs.add(event.run_id)
                continue
            if event.run_id not in self._known_runs:
                # This sink joined mid-run: a minimal row keeps the foreign key satisfied.
                placeholders.append(self._placeholder(event))
                self._known_runs.add(event.run_id)
            if isinstance(event, RunFinished):
                finishes.append(self._finish_row(event))
                payloads.append((event.run_id, "outputs", event.outputs))
                self._known_runs.discard(event.run_id)
            else:
                nodes.append(self._node_row(event))

        def outcome(connection: Any) -> None:
            if workflows:
                _insert_ignore(connection, "workflows", workflows)
            if starts:
                _upsert_runs(connection, starts)
            if placeholders:
                _insert_ignore(connection, "runs", placeholders)
            if nodes:
                _insert_ignore(connection, "node_executions", nodes)
            if finishes:  # rows share their keys: one statement for the batch
                columns = tuple(k for k in finishes[0] if k != "run_id")
                connection.execute(_statement("finish", "", columns),
                                   [{"finished_run": row["run_id"],
                                     **{f"new_{k}": row[k] for k in columns}} for row in finishes])

        self._transaction(store, outcome)
        if not payloads:
            return
        rows = [{"id": run_id, "column": column, "value": self._json(dict(value))}
                for run_id, column, value in payloads]

        def bulky(connection: Any) -> None:
            for column in ("inputs", "outputs"):
                values = [{"id": r["id"], "value": r["value"]} for r in rows
                          if r["column"] == column]
                if values:
                    connection.execute(_statement(column, ""), values)

        self._transaction(store, bulky)

    @staticmethod
    def _transaction(store: Any, write: Any) -> None:
        import sqlalchemy as sa

        for attempt in range(WRITE_ATTEMPTS):
            try:
                with store.write_engine.begin() as connection:
                    write(connection)
                return
            except sa.exc.OperationalError:
                # A lock held past the busy timeout, a dropped connection: try again shortly.
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _text(self, value: str | None) -> str | None:
        return None if value is None else self.redact.clip(value, self.max_text)

    def _json(self, value: Any) -> Any:
        return jsonable(value, self.redact, self.max_text)

    def _run_row(self, event: RunStarted) -> tuple[dict[str, Any], dict[str, Any] | None]:
        from ..store._db import HOST, PROCESS

        yaml_text = event.yaml or ""
        digest = workflow_hash(yaml_text) if yaml_text else None
        wf = None
        if digest and (event.workflow, digest) not in self._known_workflows:
            self._known_workflows.add((event.workflow, digest))
            wf = {"name": event.workflow[:200], "hash": digest, "yaml": self.redact(yaml_text),
                  "created_at": event.at}
        row = {"run_id": event.run_id, "workflow": event.workflow[:200], "workflow_hash": digest,
               "status": "running", "started_at": event.at, "experiment": self.experiment, "variant": self.variant,
               "host": HOST, "pid": os.getpid(), "process": PROCESS}
        return row, wf

    def _placeholder(self, event: Any) -> dict[str, Any]:
        from ..store._db import HOST, PROCESS

        return {"run_id": event.run_id, "workflow": "", "status": "running",
                "started_at": getattr(event, "started_at", None) or getattr(event, "at", time.time()),
                "experiment": self.experiment, "variant": self.variant, "host": HOST,
                "pid": os.getpid(), "process": PROCESS}

    def _node_row(self, event: NodeFinished | NodeFailed) -> dict[str, Any]:
        row = {"run_id": event.run_id, "node_id": event.node_id, "iteration": event.iteration,
               "item": event.item, "provider": event.provider, "model": event.model,
               "duration_ms": event.duration_ms, "started_at": event.started_at,
               "finished_at": event.at, "attempts": event.attempts,
               "tool_calls": self._json(list(event.tool_calls)) if event.tool_calls else None,
               "memory_reads": self._json(list(event.memory)) if event.memory else None}
        if isinstance(event, NodeFinished):
            row.update(status="succeeded", prompt_tokens=event.prompt_tokens,
                       completion_tokens=event.completion_tokens, cost_usd=event.cost_usd,
                       cached=bool(event.cached), prompt=self._text(event.prompt),
                       response=self._text(event.response), outputs=self._json(event.outputs),
                       error=None, error_kind=None)
        else:
            # What a failed execution had spent, where the event carries it.
            row.update(status=event.status, prompt_tokens=event.prompt_tokens,
                       completion_tokens=event.completion_tokens, cost_usd=event.cost_usd,
                       cached=False, prompt=self._text(event.prompt or None),
                       response=self._text(event.response or None), outputs=None,
                       error=self._text(event.error), error_kind=(event.kind or "")[:64])
        return row

    def _finish_row(self, event: RunFinished) -> dict[str, Any]:
        return {"run_id": event.run_id, "status": event.status, "error": self._text(event.error),
                "warnings": self._json(list(event.warnings)), "finished_at": event.at,
                "duration_ms": event.duration_ms, "cost_usd": event.cost_usd,
                "total_tokens": event.total_tokens}


#: Conflict keys of the tables the sink inserts into, skipping rows already there.
_KEYS = {"workflows": ("name", "hash"), "runs": ("run_id",),
         "node_executions": ("run_id", "node_id", "iteration", "started_at")}


@functools.lru_cache(maxsize=32)
def _statement(kind: str, dialect: str, columns: tuple[str, ...] = ()) -> Any:
    """One of the sink's statements, built once per dialect and set of columns: building them
    (the upsert's ``excluded`` columns above all) cost the writer thread more than running
    them. None where the dialect has no INSERT ... ON CONFLICT."""
    import sqlalchemy as sa

    from ..store import _schema

    runs = _schema.runs
    if kind == "finish":  # RunFinished: `columns` from the new_<column> parameters
        return (sa.update(runs).where(runs.c.run_id == sa.bindparam("finished_run"))
                .values({k: sa.bindparam(f"new_{k}") for k in columns}))
    if kind in ("inputs", "outputs"):
        return (sa.update(runs).where(runs.c.run_id == sa.bindparam("id"))
                .values({kind: sa.bindparam("value")}))
    if dialect not in ("sqlite", "postgresql"):
        return None
    module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
    if kind == "upsert runs":
        stmt = module.insert(runs)
        # The same start seen again (a second sink on this store) changes nothing; a new start
        # of a known id (a resumed run) starts the row afresh.
        return stmt.on_conflict_do_update(
            index_elements=["run_id"], set_={k: stmt.excluded[k] for k in columns},
            where=runs.c.started_at != stmt.excluded.started_at)
    return module.insert(getattr(_schema, kind)).on_conflict_do_nothing(
        index_elements=list(_KEYS[kind]))


def _insert_ignore(connection: Any, name: str, rows: list[dict[str, Any]]) -> None:
    """INSERT into table ``name``, skipping rows whose keys already exist (other writers may
    race us)."""
    import sqlalchemy as sa

    statement = _statement(name, connection.dialect.name)
    if statement is not None:
        connection.execute(statement, rows)
        return
    from ..store import _schema

    table = getattr(_schema, name)
    for row in rows:  # portable fallback: one savepoint per row
        try:
            with connection.begin_nested():
                connection.execute(sa.insert(table), [row])
        except sa.exc.IntegrityError:
            pass


def _upsert_runs(connection: Any, rows: list[dict[str, Any]]) -> None:
    """Insert run rows; a run id seen again (a resumed or replayed run) is started afresh.
    Rows share their keys, so one statement serves the whole batch."""
    import sqlalchemy as sa

    from ..store._schema import runs

    statement = _statement("upsert runs", connection.dialect.name,
                           tuple(k for k in rows[0] if k != "run_id"))
    if statement is not None:
        connection.execute(statement, rows)
        return
    for row in rows:
        done = connection.execute(sa.update(runs).where(runs.c.run_id == row["run_id"])
                                  .values(**{k: v for k, v in row.items() if k != "run_id"}))
        if not done.rowcount:
            connection.execute(sa.insert(runs), [row])
