"""Node executions keep their tool calls and memory reads in columns of their own.

Until now both rode in the ``outputs`` JSON under the reserved keys ``_tool_calls`` and
``_memory_read``, where an output field of the same name would collide with them. Rows holding
those keys get them moved to ``tool_calls`` and ``memory_reads``; an execution that did not
succeed and stored nothing else is left with no outputs, as it is recorded now.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# NULL, not a JSON null, where a row has no calls or reads (the type is the same in the DDL).
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
#: Old key in ``outputs`` → new column.
MOVED = {"_tool_calls": "tool_calls", "_memory_read": "memory_reads"}
BATCH = 500

executions = sa.table("node_executions", sa.column("id", sa.Integer),
                      sa.column("status", sa.String), sa.column("outputs", JSON),
                      *(sa.column(name, JSON) for name in MOVED.values()))


def upgrade() -> None:
    with op.batch_alter_table("node_executions") as batch:
        for name in MOVED.values():
            batch.add_column(sa.Column(name, JSON))
    _rewrite(_holding_old_keys(), _split)


def downgrade() -> None:
    columns = [executions.c[name] for name in MOVED.values()]
    _rewrite(sa.or_(*(c.isnot(None) for c in columns)), _merge)
    with op.batch_alter_table("node_executions") as batch:
        for name in MOVED.values():
            batch.drop_column(name)


def _holding_old_keys() -> Any:
    """Rows whose outputs hold one of the old keys, tested in the database where it can be."""
    outputs = executions.c.outputs
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return outputs.op("?|")(sa.literal(list(MOVED), postgresql.ARRAY(sa.Text)))
    if dialect == "sqlite":
        return sa.or_(*(sa.func.json_type(outputs, f"$.{key}").isnot(None) for key in MOVED))
    return outputs.isnot(None)  # elsewhere every row is read; _split passes over the others


def _split(row: Any) -> dict[str, Any] | None:
    """The row's new values, or None when it holds nothing to move. Calls and reads were always
    lists: any other value under those names was an output field of the same name, and stays."""
    outputs = dict(row.outputs) if isinstance(row.outputs, dict) else {}
    moved = {column: outputs.pop(key) for key, column in MOVED.items()
             if isinstance(outputs.get(key), list)}
    if not moved:
        return None
    if not outputs and row.status != "succeeded":
        outputs = None  # only the calls or reads were stored
    return {"outputs": outputs, **{column: moved.get(column) or None for column in MOVED.values()}}


def _merge(row: Any) -> dict[str, Any]:
    moved = {key: row._mapping[column] for key, column in MOVED.items() if row._mapping[column]}
    return {"outputs": {**(row.outputs or {}), **moved}}


def _rewrite(where: Any, change: Any) -> None:
    """Apply ``change`` (row → new values, or None to skip) to the rows matching ``where``,
    a batch of ids at a time so a large store is never held in memory at once."""
    connection = op.get_bind()
    ids = connection.execute(sa.select(executions.c.id).where(where)
                             .order_by(executions.c.id)).scalars().all()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rows = connection.execute(sa.select(executions).where(executions.c.id.in_(chunk))).all()
        updates = [{"row_id": row.id, **{f"new_{k}": v for k, v in values.items()}}
                   for row in rows if (values := change(row)) is not None]
        if updates:
            names = [k.removeprefix("new_") for k in updates[0] if k != "row_id"]
            connection.execute(sa.update(executions)
                               .where(executions.c.id == sa.bindparam("row_id"))
                               .values({k: sa.bindparam(f"new_{k}") for k in names}), updates)
