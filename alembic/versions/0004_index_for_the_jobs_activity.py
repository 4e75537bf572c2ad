"""index for the jobs table's activity: a job's runs by end time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 19:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dw_etl_runs", schema=None) as batch_op:
        batch_op.create_index("ix_dw_etl_runs_job_ended", ["job_id", "ended_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dw_etl_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_dw_etl_runs_job_ended")
