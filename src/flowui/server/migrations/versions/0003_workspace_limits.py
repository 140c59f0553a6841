"""A workspace's limits

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INTEGERS = ("max_task_cpus", "max_task_memory_mb", "max_task_gpus", "max_active_runs")


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        for name in _INTEGERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("allowed_runtimes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        for name in (*_INTEGERS, "allowed_runtimes"):
            batch_op.drop_column(name)
