"""The HTTP routes under fuzzed input: no crash (5xx), no reflected markup, a clear refusal."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.conftest import TEST_ORIGIN

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
FUZZ = settings(
    max_examples=50,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_refused_cleanly(status: int, body: str) -> None:
    assert status < 500, body[:500]
    assert "<script>" not in body
    assert "Traceback" not in body


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
    assert_refused_cleanly(response.status_code, response.text)
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
    assert_refused_cleanly(response.status_code, response.text)


@FUZZ
@given(authorization=TEXT)
async def test_forged_bearer_tokens_get_401_with_a_clear_message(
    client: httpx.AsyncClient, authorization: str
) -> None:
    try:
        response = await client.get("/api/health", headers={"Authorization": authorization})
    except (UnicodeEncodeError, httpx.LocalProtocolError):
        return  # the client itself cannot send such a header: nothing reaches the server
    assert_refused_cleanly(response.status_code, response.text)
    assert response.status_code == 401
    assert "not signed in" in response.json()["error"]
