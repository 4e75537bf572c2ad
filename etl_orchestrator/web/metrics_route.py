"""GET /metrics: the engine's figures in Prometheus' text exposition format.

Not public: like every /api route it needs a user's API token (or session), or the scrape
token ETL_METRICS_TOKEN sent as `Authorization: Bearer <token>` (checked without a database
read, so a monitoring system needs no console user). The figures are read from the database at
scrape time (observability/exporter.py), so every web worker answers the same.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from etl_orchestrator.config import get_settings
from etl_orchestrator.observability.exporter import build_registry
from etl_orchestrator.web.api import api_user, unauthorized

_registry: CollectorRegistry | None = None


def registry() -> CollectorRegistry:
    """This process's registry, made on the first scrape."""
    global _registry
    if _registry is None:
        _registry = build_registry()
    return _registry


def scrape_token_matches(authorization: str | None, token: str) -> bool:
    """Whether the header is `Bearer <token>` for the configured scrape token (constant time)."""
    if not token or not authorization:
        return False
    scheme, _, sent = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode())


async def metrics(request: Request) -> Response:
    token = get_settings().etl_metrics_token
    if not scrape_token_matches(request.headers.get("authorization"), token) and (
        await api_user(request) is None
    ):
        return unauthorized()
    body = await run_in_threadpool(generate_latest, registry())
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]
