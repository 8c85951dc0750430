"""Node executions name the map item they ran for.

A node that runs once per item of a map (a ``parallel:`` edge) records the item's 0-based
index in ``item``; other executions leave it NULL.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node_executions") as batch:
        batch.add_column(sa.Column("item", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("node_executions") as batch:
        batch.drop_column("item")
