"""Web fixtures: users with a role, and the console's HTTP routes behind a test client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route

from etl_orchestrator import config
from etl_orchestrator.db import session_scope
from etl_orchestrator.services.users import add_user
from etl_orchestrator.web import api, auth_routes
from etl_orchestrator.web.gate import SessionGate

TEST_ORIGIN = "http://testserver"


@dataclass(frozen=True)
class Person:
    username: str
    password: str
    role: str


MakeUser = Callable[..., Person]


@pytest.fixture
def make_user() -> MakeUser:
    """Add an active user; the password is derived from the name unless given."""

    def make(role: str = "viewer", username: str | None = None, password: str = "") -> Person:
        name = username or role
        secret = password or f"secret-of-{name}"
        with session_scope() as session:
            add_user(session, username=name, password=secret, role=role, actor="test")
        return Person(name, secret, role)

    return make


@pytest.fixture
def base_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """BASE_URL is the test client's own origin."""
    monkeypatch.setenv("BASE_URL", TEST_ORIGIN)
    config.get_settings.cache_clear()
    return TEST_ORIGIN


async def _page(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"page {request.url.path}")


@asynccontextmanager
async def routes_client(base_url: str, *routes: BaseRoute) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the console's sign-in and API routes plus `routes`, behind its session gate,
    mounted as the app mounts them."""
    app = Starlette(
        routes=[*auth_routes.routes, *api.routes, *routes], middleware=[Middleware(SessionGate)]
    )
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as test_client:
        yield test_client


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The console's own routes and gate in front of a stand-in for the Reflex pages."""
    async with routes_client(base_url, Route("/{path:path}", _page)) as test_client:
        yield test_client


async def sign_in(client: httpx.AsyncClient, person: Person, next_path: str = "/") -> str:
    """Sign in through the form route; returns the session token from the cookie."""
    response = await client.post(
        "/auth/login",
        data={"username": person.username, "password": person.password, "next": next_path},
        headers={"Origin": TEST_ORIGIN},
    )
    assert response.status_code == 303, response.text
    token = response.cookies.get("etl_session")
    assert token
    return token
