"""Evaluations in the run store: save an evaluation record, list them, load one back.

A record is the plain, JSON-ready dict of ``EvalResult.to_record()``: the evaluation (id, name,
workflow and its YAML, times, status, config) and one row per variant × dataset row × repeat.
:func:`load_evaluation_record` gives back exactly what :func:`save_evaluation` was given, apart
from secrets (replaced by ``[REDACTED]``, as everywhere in the store) and non-finite numbers in
the JSON parts (stored as ``None``: JSON has no NaN). Each row's ``run_id`` joins the ``runs``
table when the run was recorded there too.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ._db import StoreError, open_store, safe_url
from ._schema import evaluation_runs, evaluations

if TYPE_CHECKING:
    import pandas as pd

    from .._secrets import Redactor

RECORD_KEYS = ("id", "name", "workflow", "workflow_yaml", "started_at", "finished_at", "status",
               "config", "rows")
ROW_KEYS = ("variant", "row", "repeat", "run_id", "status", "error", "inputs", "outputs",
            "references", "metrics", "latency_ms", "cost_usd", "tokens", "judge_cost_usd",
            "nodes")
LIST_COLUMNS = ["id", "name", "workflow", "status", "started_at", "finished_at", "rows",
                "failed", "variants", "cost_usd", "judge_cost_usd", "tokens"]
_JSON_COLUMNS = ("inputs", "outputs", "references", "metrics", "nodes")


class EvaluationNotFound(StoreError, LookupError):
    """No evaluation in the run store has the id (or id prefix) asked for."""


def _clean(value: Any, redact: Redactor) -> Any:
    """JSON data with secrets redacted from every string and non-finite floats as None."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, redact) for v in value]
    return value


def _seconds(iso: str, where: str) -> float:
    try:
        return dt.datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        raise StoreError(f"evaluation record: `{where}` must be an ISO-8601 time, "
                         f"got {iso!r}") from None


def _check(record: Mapping[str, Any]) -> None:
    """Every missing key of the record, reported at once."""
    missing = [f"`{key}`" for key in RECORD_KEYS if key not in record]
    for index, row in enumerate(record.get("rows") or []):
        missing += [f"`rows[{index}].{key}`" for key in ROW_KEYS if key not in row]
        if len(missing) > 10:
            break
    if missing:
        raise StoreError(f"evaluation record {record.get('id', '?')!r} is missing "
                         + ", ".join(missing[:10]) + (" …" if len(missing) > 10 else ""))


def _rows(record: Mapping[str, Any], redact: Redactor) -> list[dict[str, Any]]:
    return [{"evaluation_id": record["id"], "position": position,
             "variant": row["variant"], "row": int(row["row"]), "repeat": int(row["repeat"]),
             "run_id": row["run_id"], "status": row["status"],
             "error": None if row["error"] is None else redact(row["error"]),
             **{key: _clean(row[key], redact) for key in _JSON_COLUMNS},
             "latency_ms": float(row["latency_ms"] or 0.0),
             "cost_usd": float(row["cost_usd"] or 0.0), "tokens": int(row["tokens"] or 0),
             "judge_cost_usd": float(row["judge_cost_usd"] or 0.0)}
            for position, row in enumerate(record["rows"])]


def _upsert(connection: sa.engine.Connection, values: dict[str, Any]) -> None:
    """Insert the evaluation row, or replace it. On PostgreSQL the row lock it takes makes a
    concurrent save of the same id wait until this transaction ends."""
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
        stmt = module.insert(evaluations).values(values)
        connection.execute(stmt.on_conflict_do_update(
            index_elements=["id"], set_={k: stmt.excluded[k] for k in values if k != "id"}))
        return
    done = connection.execute(sa.update(evaluations).where(evaluations.c.id == values["id"])
                              .values(values))
    if not done.rowcount:
        connection.execute(sa.insert(evaluations).values(values))


def save_evaluation(record: Mapping[str, Any], *, storage_url: str | None = None) -> str:
    """Record an evaluation (an ``EvalResult.to_record()`` dict) in the run store; return its id.

    Saving the same id again replaces the evaluation and all its rows, in one transaction, so
    readers see the old record or the new one, never a mix; concurrent saves queue.
    ``storage_url`` defaults to the session's storage URL.
    """
    from .._secrets import Redactor

    _check(record)
    redact = Redactor()
    redact.refresh(record["workflow_yaml"] or "")  # the keys its `api_key_env` names, too
    rows = _rows(record, redact)
    variants = {row["variant"] for row in rows}
    values = {
        "id": record["id"], "name": record["name"], "workflow": record["workflow"],
        "status": record["status"],
        "started_at": _seconds(record["started_at"], "started_at"),
        "finished_at": (None if record["finished_at"] is None
                        else _seconds(record["finished_at"], "finished_at")),
        "started_iso": record["started_at"], "finished_iso": record["finished_at"],
        "config": _clean(record["config"], redact),
        "workflow_yaml": redact(record["workflow_yaml"] or ""),
        "rows": len(rows), "failed": sum(row["status"] != "succeeded" for row in rows),
        "variants": len(variants), "cost_usd": sum(row["cost_usd"] for row in rows),
        "judge_cost_usd": sum(row["judge_cost_usd"] for row in rows),
        "tokens": sum(row["tokens"] for row in rows)}
    store = open_store(storage_url)
    try:
        with store.write_engine.begin() as connection:
            _upsert(connection, values)
            connection.execute(sa.delete(evaluation_runs)
                               .where(evaluation_runs.c.evaluation_id == record["id"]))
            if rows:
                connection.execute(sa.insert(evaluation_runs), rows)
    except sa.exc.IntegrityError as exc:
        raise StoreError(f"evaluation {record['id']!r} was not saved: two of its rows share a "
                         f"variant, row and repeat ({str(exc.orig).splitlines()[0]})") from None
    return str(record["id"])


def list_evaluations(workflow: str | None = None, *, last: int | None = None,
                     storage_url: str | None = None) -> pd.DataFrame:
    """The evaluations in the run store, newest first: one row each with its totals.

    Columns: ``id``, ``name``, ``workflow``, ``status``, ``started_at``, ``finished_at`` (UTC),
    ``rows`` (variant × row × repeat), ``failed`` (rows that did not succeed), ``variants``,
    ``cost_usd`` (the workflow runs), ``judge_cost_usd`` and ``tokens``.
    """
    import pandas as pd

    e = evaluations
    query = (sa.select(*(e.c[name] for name in LIST_COLUMNS))
             .order_by(e.c.started_at.desc(), e.c.id))
    if workflow is not None:
        query = query.where(e.c.workflow == workflow)
    if last is not None:
        if int(last) < 1:
            raise StoreError(f"`last` must be a positive number of evaluations, got {last!r}")
        query = query.limit(int(last))
    with open_store(storage_url).engine.connect() as connection:
        frame = pd.DataFrame([tuple(row) for row in connection.execute(query)],
                             columns=LIST_COLUMNS)
    frame = frame.astype({"rows": "int64", "failed": "int64", "variants": "int64",
                          "tokens": "int64", "cost_usd": "float64", "judge_cost_usd": "float64"})
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame


def _resolve(connection: sa.engine.Connection, evaluation_id: str, url: str) -> Any:
    """The evaluation row of an id or unique id prefix, or an error that says what exists."""
    e = evaluations
    row = connection.execute(sa.select(e).where(e.c.id == evaluation_id)).first()
    if row is not None:
        return row
    like = evaluation_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = connection.execute(sa.select(e).where(e.c.id.like(like, escape="\\"))
                               .order_by(e.c.started_at.desc()).limit(6)).all()
    if len(found) == 1:
        return found[0]
    if found:
        listed = ", ".join(f"`{r.id}` ({r.name})" for r in found[:5])
        raise EvaluationNotFound(f"evaluation id `{evaluation_id}` is ambiguous: it starts "
                                 f"{listed}{' …' if len(found) > 5 else ''}; give more characters")
    known = connection.execute(sa.select(e.c.id, e.c.name)
                               .order_by(e.c.started_at.desc())).all()
    message = f"no evaluation `{evaluation_id}` in the run store at {safe_url(url)}"
    if not known:
        raise EvaluationNotFound(message + " (it has no evaluations yet)")
    named = [r.id for r in known if r.name == evaluation_id]
    close = named or difflib.get_close_matches(evaluation_id, [r.id for r in known], n=3,
                                               cutoff=0.6)
    if close:
        message += "; did you mean " + " or ".join(f"`{c}`" for c in close[:3]) + "?"
    else:
        message += "; the newest are " + ", ".join(f"`{r.id}` ({r.name})" for r in known[:3])
    raise EvaluationNotFound(message + " (see evaluations() for every id)")


def load_evaluation_record(evaluation_id: str, storage_url: str | None = None) -> dict[str, Any]:
    """The record :func:`save_evaluation` stored under ``evaluation_id`` (a unique prefix of
    the id is enough), in the shape of ``EvalResult.to_record()``."""
    store = open_store(storage_url)
    r = evaluation_runs
    with store.engine.connect() as connection:
        evaluation = _resolve(connection, str(evaluation_id), store.url)
        rows = connection.execute(sa.select(r).where(r.c.evaluation_id == evaluation.id)
                                  .order_by(r.c.position)).all()
    return {"id": evaluation.id, "name": evaluation.name, "workflow": evaluation.workflow,
            "workflow_yaml": evaluation.workflow_yaml, "started_at": evaluation.started_iso,
            "finished_at": evaluation.finished_iso, "status": evaluation.status,
            "config": evaluation.config,
            "rows": [{key: row._mapping[key] for key in ROW_KEYS} for row in rows]}
