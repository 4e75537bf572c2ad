"""GET /metrics: Prometheus text for the scrape token or a user's API token, 401 otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware

from etl_orchestrator import config
from etl_orchestrator.db import session_scope
from etl_orchestrator.web import api_tokens, metrics_route
from etl_orchestrator.web.gate import SessionGate
from tests.observability.conftest import add_finished_run
from tests.web.conftest import MakeUser

SCRAPE = "scrape-token-123"


@pytest.fixture
async def client(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("ETL_METRICS_TOKEN", SCRAPE)
    monkeypatch.setenv("ETL_METRICS_CACHE_S", "0")
    config.get_settings.cache_clear()
    app = Starlette(routes=metrics_route.routes, middleware=[Middleware(SessionGate)])
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as test_client:
        yield test_client


async def test_metrics_without_credentials_is_refused(client: httpx.AsyncClient):
    response = await client.get("/metrics")
    assert response.status_code == 401
    assert "etl_runs_finished_total" not in response.text


async def test_a_wrong_scrape_token_is_refused(client: httpx.AsyncClient):
    response = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def test_the_scrape_token_gets_prometheus_text(client: httpx.AsyncClient):
    add_finished_run("load_sales")
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "etl_metrics_up 1.0" in response.text, response.text
    assert "# TYPE etl_runs_finished_total counter" in response.text
    assert (
        'etl_runs_finished_total{dry_run="false",job_id="load_sales",status="succeeded"} 1.0'
        in response.text
    )
    assert "etl_parallel_jobs 4.0" in response.text


async def test_a_users_api_token_also_gets_the_metrics(
    client: httpx.AsyncClient, make_user: MakeUser
):
    make_user("viewer", username="grafana-bot")
    with session_scope() as session:
        issued = api_tokens.issue(
            session, username="grafana-bot", label="prometheus", days=None, actor="test"
        )
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {issued.secret}"})
    assert response.status_code == 200
    assert "etl_workers_alive" in response.text


def test_scrape_token_comparison_needs_the_bearer_scheme_and_a_configured_token():
    assert metrics_route.scrape_token_matches("Bearer abc", "abc")
    assert metrics_route.scrape_token_matches("bearer abc ", "abc")
    assert not metrics_route.scrape_token_matches("Basic abc", "abc")
    assert not metrics_route.scrape_token_matches("Bearer ", "")
    assert not metrics_route.scrape_token_matches(None, "abc")
