"""The HTTP routes under fuzzed input: no crash (5xx), no reflected markup, a clear refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl_orchestrator.web import (
    audit_routes,
    dag_route,
    log_routes,
    metrics_route,
)
from tests.web.conftest import TEST_ORIGIN, MakeUser, routes_client, sign_in

HOSTILE = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "'; DROP TABLE dw_etl_users; --",
        "\x00",
        "a\x00b",
        "😀" * 50,
        "x" * 100_000,
        "%00",
        "../../etc/passwd",
        "",
    ]
)
TEXT = st.one_of(HOSTILE, st.text(max_size=60))
AUDIT_FILTERS = ["actor", "action", "target", "since", "until"]
FUZZ = settings(
    max_examples=50,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_refused_cleanly(status: int, body: str, content_type: str = "text/html") -> None:
    """No server error, no traceback, and no markup from the input in anything a browser would
    render (a JSON error may quote the input: browsers do not run it)."""
    assert status < 500, body[:500]
    assert "Traceback" not in body
    if "json" not in content_type:
        assert "<script>" not in body


async def get_cleanly(client: httpx.AsyncClient, path: str, **kwargs: Any) -> httpx.Response | None:
    """GET `path` and check any refusal is clean; None when the client cannot send it at all."""
    try:
        response = await client.get(path, **kwargs)
    except (UnicodeEncodeError, httpx.InvalidURL, httpx.LocalProtocolError):
        return None  # the client itself cannot send such a request: nothing reaches the server
    assert_refused_cleanly(
        response.status_code, response.text, response.headers.get("content-type", "")
    )
    return response


@FUZZ
@given(username=TEXT, password=TEXT, next_path=TEXT)
async def test_fuzzed_sign_in_forms_never_crash_or_reflect_markup(
    client: httpx.AsyncClient, username: str, password: str, next_path: str
) -> None:
    response = await client.post(
        "/auth/login",
        data={"username": username, "password": password, "next": next_path},
        headers={"Origin": TEST_ORIGIN},
    )
    assert_refused_cleanly(
        response.status_code, response.text, response.headers.get("content-type", "")
    )
    if response.status_code == 303:
        # Only a relative path on this site can be where sign-in leads.
        location = response.headers["location"]
        assert location.startswith("/")
        assert not location.startswith("//")


@FUZZ
@given(body=st.binary(max_size=2000), content_type=TEXT)
async def test_malformed_sign_in_bodies_are_refused_without_a_crash(
    client: httpx.AsyncClient, body: bytes, content_type: str
) -> None:
    try:
        headers = {"Origin": TEST_ORIGIN, "Content-Type": content_type}
        response = await client.post("/auth/login", content=body, headers=headers)
    except (UnicodeEncodeError, httpx.InvalidURL, httpx.LocalProtocolError):
        return  # the client itself cannot send such a header: nothing reaches the server
    assert_refused_cleanly(
        response.status_code, response.text, response.headers.get("content-type", "")
    )


@FUZZ
@given(authorization=TEXT)
async def test_forged_bearer_tokens_get_401_with_a_clear_message(
    client: httpx.AsyncClient, authorization: str
) -> None:
    headers = {"Authorization": authorization}
    response = await get_cleanly(client, "/api/health", headers=headers)
    if response is None:
        return
    assert response.status_code == 401
    assert "not signed in" in response.json()["error"]


@pytest.fixture
async def console_client(base_url: str, make_user: MakeUser) -> AsyncIterator[httpx.AsyncClient]:
    """Every plain HTTP route the console serves, behind its gate, signed in as an operator."""
    routes = (
        *audit_routes.routes,
        *dag_route.routes,
        *log_routes.routes,
        *metrics_route.routes,
    )
    async with routes_client(base_url, *routes) as test_client:
        await sign_in(test_client, make_user("operator"))
        yield test_client


@FUZZ
@given(run_id=st.integers(min_value=0, max_value=10**30), after=TEXT)
async def test_fuzzed_log_routes_answer_404_or_400_never_5xx(
    console_client: httpx.AsyncClient, run_id: int, after: str
) -> None:
    for path in (f"/api/runs/{run_id}/logs.txt", f"/api/runs/{run_id}/logs/stream"):
        response = await get_cleanly(console_client, path, params={"after": after})
        if response is None:
            return
        assert response.status_code in (400, 404), response.text[:300]


@FUZZ
@given(job=TEXT)
async def test_fuzzed_graph_requests_are_answered_never_5xx(
    console_client: httpx.AsyncClient, job: str
) -> None:
    response = await get_cleanly(console_client, "/api/dag", params={"job": job})
    if response is None:
        return
    assert response.status_code == 200, response.text[:300]
    assert response.json()["problem"] or not job


@FUZZ
@given(
    params=st.dictionaries(st.sampled_from(["actor", "action", "target", "since", "until"]), TEXT)
)
async def test_fuzzed_audit_export_filters_are_refused_or_answered_never_5xx(
    console_client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await get_cleanly(console_client, "/api/audit.csv", params=params)
    if response is None:
        return
    assert response.status_code in (200, 400), response.text[:300]


@FUZZ
@given(authorization=TEXT)
async def test_metrics_refuse_forged_tokens(
    console_client: httpx.AsyncClient, authorization: str
) -> None:
    headers = {"Authorization": authorization}
    response = await get_cleanly(console_client, "/metrics", headers=headers)
    if response is None:
        return
    assert response.status_code == 401
