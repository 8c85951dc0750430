"""A node may run again in the same run and iteration when the run is resumed.

Node executions are now unique per start time as well, so the failed execution and the one
that replaced it after a resume are both kept (a second sink writing the same event still
adds nothing).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD = "uq_node_executions_run_id_node_id_iteration"
NEW = "uq_node_executions_run_id_node_id_iteration_started_at"


def upgrade() -> None:
    with op.batch_alter_table("node_executions") as batch:
        batch.drop_constraint(OLD, type_="unique")
        batch.create_unique_constraint(NEW, ["run_id", "node_id", "iteration", "started_at"])


def downgrade() -> None:
    with op.batch_alter_table("node_executions") as batch:
        batch.drop_constraint(NEW, type_="unique")
        batch.create_unique_constraint(OLD, ["run_id", "node_id", "iteration"])
