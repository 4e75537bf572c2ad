"""Runs the Alembic migration chain programmatically (used by the CLI and the tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic.config import Config

from alembic import command
from etl_orchestrator.config import get_settings
from etl_orchestrator.db import normalize_url
from etl_orchestrator.models._types import POSTGRESQL_ONLY

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["url"] = normalize_url(url or get_settings().effective_database_url)
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at `url` (default DATABASE_URL) up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def include_object_for(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's include_object for a database of this dialect: the model's PostgreSQL-only
    items (info POSTGRESQL_ONLY) are not compared elsewhere, where no migration makes them."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return dialect == "postgresql" or not getattr(obj, "info", {}).get(POSTGRESQL_ONLY)

    return include
