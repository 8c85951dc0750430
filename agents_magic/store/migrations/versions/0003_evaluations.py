"""Evaluations: one row per evaluation and one per variant × dataset row × repeat.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# ``json`` (not ``jsonb``) on PostgreSQL: keeps keys in the order they were recorded.
JSON = sa.JSON


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double),
        sa.Column("started_iso", sa.String(64), nullable=False),
        sa.Column("finished_iso", sa.String(64)),
        sa.Column("config", JSON, nullable=False),
        sa.Column("workflow_yaml", sa.Text, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("variants", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Double, nullable=False, server_default="0"),
        sa.Column("judge_cost_usd", sa.Double, nullable=False, server_default="0"),
        sa.Column("tokens", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
    )
    op.create_index("ix_evaluations_workflow", "evaluations", ["workflow"])
    op.create_index("ix_evaluations_started_at", "evaluations", ["started_at"])
    op.create_table(
        "evaluation_runs",
        sa.Column("evaluation_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("variant", sa.String(200), nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("inputs", JSON),
        sa.Column("outputs", JSON),
        sa.Column("references", JSON),
        sa.Column("metrics", JSON),
        sa.Column("nodes", JSON),
        sa.Column("latency_ms", sa.Double, nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Double, nullable=False, server_default="0"),
        sa.Column("tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("judge_cost_usd", sa.Double, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("evaluation_id", "position", name="pk_evaluation_runs"),
        sa.ForeignKeyConstraint(["evaluation_id"], ["evaluations.id"], ondelete="CASCADE",
                                name="fk_evaluation_runs_evaluation_id_evaluations"),
        sa.UniqueConstraint("evaluation_id", "variant", "row", "repeat",
                            name="uq_evaluation_runs_evaluation_id_variant_row_repeat"),
    )
    op.create_index("ix_evaluation_runs_run_id", "evaluation_runs", ["run_id"])


def downgrade() -> None:
    op.drop_table("evaluation_runs")
    op.drop_table("evaluations")
