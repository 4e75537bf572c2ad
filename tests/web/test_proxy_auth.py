"""Trusted-proxy mode: identity headers are believed only from ETL_TRUSTED_PROXIES."""

from __future__ import annotations

import sys
import types

import httpx
import pytest
from sqlmodel import select

from etl_orchestrator import config
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, User
from etl_orchestrator.web.health import HEALTH_MODULE
from tests.web.conftest import MakeUser

#: The test client's address (tests/web/conftest.py).
CLIENT = "192.0.2.7"
HTML = {"Accept": "text/html"}


def proxy_mode(monkeypatch: pytest.MonkeyPatch, proxies: str) -> None:
    monkeypatch.setenv("ETL_TRUSTED_PROXIES", proxies)
    monkeypatch.setenv(
        "ETL_PROXY_GROUP_ROLES", "etl-viewers=viewer,etl-ops=operator,etl-admins=admin"
    )
    config.get_settings.cache_clear()


def as_user(name: str, groups: str, *, page: bool = True) -> dict[str, str]:
    """What the proxy adds; `page`: a browser's page load (else a script's API call)."""
    return {**(HTML if page else {}), "X-Forwarded-User": name, "X-Forwarded-Groups": groups}


def stored(name: str) -> User | None:
    with session_scope() as session:
        return session.get(User, name)


@pytest.fixture(autouse=True)
def healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType(HEALTH_MODULE)
    module.check_health = lambda: {"status": "ok", "checks": []}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, HEALTH_MODULE, module)


async def test_a_trusted_proxys_user_gets_a_session_and_the_highest_role_of_their_groups(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
):
    proxy_mode(monkeypatch, "10.0.0.0/8, 192.0.2.0/24")
    response = await client.get("/runs/3", headers=as_user("Ana", "staff, etl-viewers,etl-ops"))
    assert response.status_code == 303
    assert response.headers["location"] == "/runs/3"
    assert "HttpOnly" in response.headers["set-cookie"]
    user = stored("ana")
    assert user is not None
    assert user.role == "operator"
    # With the cookie the proxy's next request goes through, without another session.
    again = await client.get("/runs/3", headers=as_user("ana", "etl-ops"))
    assert again.status_code == 200
    assert again.text == "page /runs/3"
    with session_scope() as session:
        actions = [e.action for e in session.exec(select(AuditEntry))]
    assert sorted(actions) == ["auth.login", "users.add"]


async def test_identity_headers_from_any_other_address_are_ignored(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
):
    proxy_mode(monkeypatch, "10.0.0.5")
    response = await client.get("/", headers=as_user("mallory", "etl-admins"))
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"
    assert stored("mallory") is None
    api = await client.get("/api/health", headers=as_user("mallory", "etl-admins", page=False))
    assert api.status_code == 401


async def test_without_trusted_proxies_the_headers_mean_nothing(client: httpx.AsyncClient):
    response = await client.get("/", headers=as_user("mallory", "etl-admins"))
    assert response.headers["location"] == "/signin"
    assert stored("mallory") is None


async def test_a_user_with_no_mapped_group_is_not_let_in(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
):
    proxy_mode(monkeypatch, CLIENT)
    response = await client.get("/", headers=as_user("bo", "staff,finance"))
    assert response.headers["location"] == "/signin"
    assert stored("bo") is None


async def test_the_role_follows_the_groups_and_a_deactivated_user_stays_out(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, make_user: MakeUser
):
    proxy_mode(monkeypatch, CLIENT)
    make_user("viewer", username="cy")
    response = await client.get("/", headers=as_user("cy", "etl-admins"))
    assert response.status_code == 303
    user = stored("cy")
    assert user is not None
    assert user.role == "admin"
    with session_scope() as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "users.role")).one()
        assert entry.params == {"from": "viewer", "to": "admin"}
        cy = session.get(User, "cy")
        assert cy is not None
        cy.active = False
    client.cookies.clear()
    refused = await client.get("/", headers=as_user("cy", "etl-admins"))
    assert refused.status_code == 403


async def test_the_api_believes_a_trusted_proxy(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
):
    proxy_mode(monkeypatch, CLIENT)
    response = await client.get("/api/health", headers=as_user("dee", "etl-viewers", page=False))
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
