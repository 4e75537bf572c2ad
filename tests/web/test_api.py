"""GET /healthz is public; /api/health and every page load need a session."""

from __future__ import annotations

import sys
import types

import httpx
import pytest

from etl_orchestrator.web.gate import needs_session
from etl_orchestrator.web.health import HEALTH_MODULE
from tests.web.conftest import MakeUser, sign_in

HTML = {"Accept": "text/html,application/xhtml+xml"}


async def test_healthz_answers_without_a_session(client: httpx.AsyncClient):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_api_health_needs_a_session(client: httpx.AsyncClient):
    response = await client.get("/api/health")
    assert response.status_code == 401
    assert "sign in" in response.json()["error"]


@pytest.fixture
def health_check(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A stand-in observability.health module whose report the test sets."""
    report: dict[str, object] = {"status": "ok", "checks": []}
    module = types.ModuleType(HEALTH_MODULE)
    module.check_health = lambda: report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, HEALTH_MODULE, module)
    return report


async def test_api_health_returns_the_health_report_to_a_signed_in_user(
    client: httpx.AsyncClient, make_user: MakeUser, health_check: dict[str, object]
):
    health_check.update(status="degraded", checks=[{"name": "workers", "status": "down"}])
    await sign_in(client, make_user())
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": [{"name": "workers", "status": "down"}],
    }


async def test_a_page_load_without_a_session_goes_to_sign_in_with_the_page_as_next(
    client: httpx.AsyncClient,
):
    response = await client.get("/runs/42?tab=logs", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fruns%2F42%3Ftab%3Dlogs"


async def test_a_page_load_with_a_session_is_served(client: httpx.AsyncClient, make_user: MakeUser):
    await sign_in(client, make_user())
    response = await client.get("/runs/42", headers=HTML)
    assert response.status_code == 200
    assert response.text == "page /runs/42"


async def test_a_page_load_after_sign_out_goes_to_sign_in(
    client: httpx.AsyncClient, make_user: MakeUser
):
    token = await sign_in(client, make_user())
    await client.post("/auth/logout", headers={"Origin": "http://testserver"})
    client.cookies.set("etl_session", token)  # a copy of the old cookie is worth nothing now
    response = await client.get("/", headers=HTML)
    assert response.headers["location"] == "/signin"


@pytest.mark.parametrize(
    ("method", "path", "accept", "needed"),
    [
        ("GET", "/", "text/html", True),
        ("GET", "/runs/42/", "text/html", True),
        ("HEAD", "/runs/42", "text/html", True),
        ("GET", "/signin", "text/html", False),
        ("GET", "/signin/", "text/html", False),
        ("GET", "/healthz", "text/html", False),
        ("GET", "/assets/app-x1.js", "text/html", False),
        ("GET", "/_event/", "text/html", False),
        ("GET", "/runs/42", "application/json", False),
        ("POST", "/runs/42", "text/html", False),
    ],
)
def test_needs_session_covers_page_loads_only(method: str, path: str, accept: str, needed: bool):
    assert needs_session(method, path, accept) is needed
