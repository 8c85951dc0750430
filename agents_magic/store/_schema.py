"""The run store's tables (SQLAlchemy Core), the single source the migrations are checked against.

Times are Unix timestamps in seconds (``DOUBLE``), as the run events carry them: exact to the
microsecond, portable across SQLite and PostgreSQL, and free of time-zone ambiguity. The reports
turn them into UTC datetimes.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# Constraint names are fixed so later migrations can alter them on every backend.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Upper bound for stored prompts, responses and error texts (characters).
MAX_TEXT = 20_000

metadata = sa.MetaData(naming_convention=NAMING)

# JSONB on PostgreSQL (indexable, compact); JSON text elsewhere.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# The same, storing None as SQL NULL rather than a JSON null (an execution with nothing to list).
OptionalJSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True),
                                                       "postgresql")
Timestamp = sa.Double

workflows = sa.Table(
    "workflows", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("yaml", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("name", "hash"),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("workflow", sa.String(200), nullable=False, index=True),
    sa.Column("workflow_hash", sa.String(64)),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("inputs", JSON),
    sa.Column("outputs", JSON),
    sa.Column("error", sa.Text),
    sa.Column("warnings", JSON),
    sa.Column("started_at", Timestamp, nullable=False, index=True),
    sa.Column("finished_at", Timestamp),
    sa.Column("duration_ms", sa.Double),
    sa.Column("cost_usd", sa.Double, nullable=False, server_default="0"),
    sa.Column("total_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("variant", sa.String(200)),
    sa.Column("experiment", sa.String(200), index=True),
    # Who is running it: lets start-up reconciliation tell a crashed run from a live one.
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("process", sa.String(32)),
)

node_executions = sa.Table(
    "node_executions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("node_id", sa.String(200), nullable=False),
    sa.Column("iteration", sa.Integer, nullable=False, server_default="1"),
    # The 0-based index of the item when the node ran once per item of a map, else NULL.
    sa.Column("item", sa.Integer),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(100)),
    sa.Column("model", sa.String(200)),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost_usd", sa.Double, nullable=False, server_default="0"),
    sa.Column("duration_ms", sa.Double),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.Column("cached", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("error", sa.Text),
    sa.Column("error_kind", sa.String(64)),
    sa.Column("prompt", sa.Text),
    sa.Column("response", sa.Text),
    sa.Column("outputs", JSON),  # the node's outputs, nothing else
    # ToolCalled.record() of each tool call, in order; NULL when it called none.
    sa.Column("tool_calls", OptionalJSON),
    # The memory it read: [{namespace, key, found, field}]; NULL when it read none.
    sa.Column("memory_reads", OptionalJSON),
    # One row per execution: a second sink on the same store (or an event delivered twice)
    # cannot duplicate it.
    sa.UniqueConstraint("run_id", "node_id", "iteration", "started_at"),
)

memory_entries = sa.Table(
    "memory_entries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # ``{agent}:{workflow|*}:{node|*}`` — the key lives in its own column.
    sa.Column("namespace", sa.String(400), nullable=False),
    sa.Column("key", sa.String(400), nullable=False),
    sa.Column("value", JSON),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, index=True),
    sa.UniqueConstraint("namespace", "key"),
)

# Evaluations: ``json`` rather than ``jsonb`` on PostgreSQL, which keeps the keys in the order
# they were recorded, so a loaded evaluation lists its inputs, metrics and variants as it did.
OrderedJSON = sa.JSON

evaluations = sa.Table(
    "evaluations", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("workflow", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False, index=True),
    sa.Column("finished_at", Timestamp),
    # The record's own ISO-8601 texts, kept verbatim (offset and precision as given).
    sa.Column("started_iso", sa.String(64), nullable=False),
    sa.Column("finished_iso", sa.String(64)),
    sa.Column("config", OrderedJSON, nullable=False),
    sa.Column("workflow_yaml", sa.Text, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("variants", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost_usd", sa.Double, nullable=False, server_default="0"),
    sa.Column("judge_cost_usd", sa.Double, nullable=False, server_default="0"),
    sa.Column("tokens", sa.Integer, nullable=False, server_default="0"),
)

evaluation_runs = sa.Table(
    "evaluation_runs", metadata,
    sa.Column("evaluation_id", sa.String(64),
              sa.ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True),
    # Order of the row in the record, so it loads back as it was saved.
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("variant", sa.String(200), nullable=False),
    sa.Column("row", sa.Integer, nullable=False),
    sa.Column("repeat", sa.Integer, nullable=False),
    # Not a foreign key: a row's run is in the runs table only when the store sink recorded
    # it (the store may be off, or the run written later by its background writer).
    sa.Column("run_id", sa.String(64), index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("inputs", OrderedJSON),
    sa.Column("outputs", OrderedJSON),
    sa.Column("references", OrderedJSON),
    sa.Column("metrics", OrderedJSON),
    sa.Column("nodes", OrderedJSON),
    sa.Column("latency_ms", sa.Double, nullable=False, server_default="0"),
    sa.Column("cost_usd", sa.Double, nullable=False, server_default="0"),
    sa.Column("tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("judge_cost_usd", sa.Double, nullable=False, server_default="0"),
    sa.UniqueConstraint("evaluation_id", "variant", "row", "repeat"),
)
