"""index for outside-batch upstream lookups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 14:09:35.407765
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dw_etl_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dw_etl_runs_job_status_tick", ["job_id", "status", "scheduled_for"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dw_etl_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_dw_etl_runs_job_status_tick")
