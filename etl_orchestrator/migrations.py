"""Runs the Alembic migration chain programmatically (used by the CLI and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from etl_orchestrator.config import get_settings
from etl_orchestrator.db import normalize_url

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["url"] = normalize_url(url or get_settings().effective_database_url)
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at `url` (default DATABASE_URL) up to `revision`."""
    command.upgrade(alembic_config(url), revision)
