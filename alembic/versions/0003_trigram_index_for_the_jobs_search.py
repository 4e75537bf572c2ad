"""trigram index for the jobs table's search (PostgreSQL only)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 19:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_dw_etl_jobs_search_trgm"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return  # SQLite has no trigram index: its search scans the (small) table
    # pg_trgm is a trusted extension: the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        INDEX,
        "dw_etl_jobs",
        ["job_id", "name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"job_id": "gin_trgm_ops", "name": "gin_trgm_ops"},
    )


def downgrade() -> None:
    if not _postgresql():
        return
    # The extension stays: other objects in the database may use it.
    op.drop_index(INDEX, table_name="dw_etl_jobs")
