"""index for the overview's 24 h counts of runs by status

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 19:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dw_etl_runs", schema=None) as batch_op:
        batch_op.create_index("ix_dw_etl_runs_queued", ["queued_at", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dw_etl_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_dw_etl_runs_queued")
