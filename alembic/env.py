"""Alembic environment: one migration chain for SQLite and PostgreSQL over SQLModel's metadata."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import etl_orchestrator.models  # noqa: F401  (registers the tables)
from alembic import context
from etl_orchestrator.config import get_settings
from etl_orchestrator.db import make_engine
from etl_orchestrator.migrations import include_object_for

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return str(config.attributes.get("url") or get_settings().effective_database_url)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object_for(make_url(_url()).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url(), pool_size=1)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
                include_object=include_object_for(connection.dialect.name),
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
