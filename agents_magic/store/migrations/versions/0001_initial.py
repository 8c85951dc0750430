"""Initial schema: workflows, runs, node executions and memory entries.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("yaml", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workflows"),
        sa.UniqueConstraint("name", "hash", name="uq_workflows_name_hash"),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("workflow_hash", sa.String(64)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("inputs", JSON),
        sa.Column("outputs", JSON),
        sa.Column("error", sa.Text),
        sa.Column("warnings", JSON),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double),
        sa.Column("duration_ms", sa.Double),
        sa.Column("cost_usd", sa.Double, nullable=False, server_default="0"),
        sa.Column("total_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("variant", sa.String(200)),
        sa.Column("experiment", sa.String(200)),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("process", sa.String(32)),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_index("ix_runs_workflow", "runs", ["workflow"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_experiment", "runs", ["experiment"])
    op.create_table(
        "node_executions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("node_id", sa.String(200), nullable=False),
        sa.Column("iteration", sa.Integer, nullable=False, server_default="1"),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(100)),
        sa.Column("model", sa.String(200)),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Double, nullable=False, server_default="0"),
        sa.Column("duration_ms", sa.Double),
        sa.Column("started_at", sa.Double),
        sa.Column("finished_at", sa.Double),
        sa.Column("cached", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("error", sa.Text),
        sa.Column("error_kind", sa.String(64)),
        sa.Column("prompt", sa.Text),
        sa.Column("response", sa.Text),
        sa.Column("outputs", JSON),
        sa.PrimaryKeyConstraint("id", name="pk_node_executions"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE",
                                name="fk_node_executions_run_id_runs"),
        sa.UniqueConstraint("run_id", "node_id", "iteration",
                            name="uq_node_executions_run_id_node_id_iteration"),
    )
    op.create_table(
        "memory_entries",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("namespace", sa.String(400), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("value", JSON),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double),
        sa.PrimaryKeyConstraint("id", name="pk_memory_entries"),
        sa.UniqueConstraint("namespace", "key", name="uq_memory_entries_namespace_key"),
    )
    op.create_index("ix_memory_entries_expires_at", "memory_entries", ["expires_at"])


def downgrade() -> None:
    op.drop_table("memory_entries")
    op.drop_table("node_executions")
    op.drop_table("runs")
    op.drop_table("workflows")
