"""GET /api/audit.csv: operators and admins export the filtered audit as CSV; others cannot."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest

from etl_orchestrator.db import session_scope
from etl_orchestrator.services import audit
from etl_orchestrator.web import audit_routes
from tests.web.conftest import MakeUser, routes_client, sign_in


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The conftest's client, with the audit export route mounted as the app mounts it."""
    async with routes_client(base_url, *audit_routes.routes) as test_client:
        yield test_client


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_an_operator_exports_the_filtered_audit_as_csv(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    person = make_user("operator", "olly")
    with session_scope() as session:
        audit.record(
            session, actor="ann", action="run.cancel", target="run 1 (load)", reason="a, b"
        )
        audit.record(session, actor="bob", action="settings.update", target="parallel_jobs")
    await sign_in(client, person)
    response = await client.get("/api/audit.csv", params={"action": "run"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    [row] = rows(response.text)
    assert (row["actor"], row["action"], row["reason"]) == ("ann", "run.cancel", "a, b")
    everything = rows((await client.get("/api/audit.csv")).text)
    # Adding the user and the sign-in are audited too.
    assert {r["action"] for r in everything} == {
        "users.add",
        "auth.login",
        "run.cancel",
        "settings.update",
    }


async def test_a_viewer_is_refused_and_no_session_is_unauthorized(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    assert (await client.get("/api/audit.csv")).status_code == 401
    await sign_in(client, make_user("viewer", "vic"))
    response = await client.get("/api/audit.csv")
    assert response.status_code == 403
    assert "operator role" in response.json()["error"]


async def test_a_bad_filter_is_a_400_with_the_reason(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, make_user("admin", "ann"))
    response = await client.get("/api/audit.csv", params={"since": "last week"})
    assert response.status_code == 400
    assert "since must be a UTC date" in response.json()["error"]
