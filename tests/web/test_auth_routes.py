"""POST /auth/login and /auth/logout: cookie, origin check, safe redirects, throttle, audit."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, User, UserSession
from etl_orchestrator.web import sessions, throttle
from etl_orchestrator.web.auth_routes import safe_next
from tests.web.conftest import TEST_ORIGIN, MakeUser, Person, sign_in

pytestmark = pytest.mark.usefixtures("base_url")


async def post_login(
    client: httpx.AsyncClient,
    username: str,
    password: str,
    next_path: str = "/",
    origin: str | None = TEST_ORIGIN,
) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    return await client.post(
        "/auth/login",
        data={"username": username, "password": password, "next": next_path},
        headers=headers,
    )


def session_count() -> int:
    with session_scope() as session:
        return len(session.exec(select(UserSession)).all())


def audit_rows(action: str) -> list[AuditEntry]:
    with session_scope() as session:
        query = select(AuditEntry).where(col(AuditEntry.action) == action)
        return list(session.exec(query.order_by(col(AuditEntry.audit_id))))


async def test_a_good_password_sets_an_httponly_samesite_lax_cookie_and_goes_to_next(
    client: httpx.AsyncClient, make_user: MakeUser
):
    person = make_user("operator")
    response = await post_login(client, person.username, person.password, "/runs/7?tab=logs")
    assert response.status_code == 303
    assert response.headers["location"] == "/runs/7?tab=logs"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    token = response.cookies[sessions.COOKIE_NAME]
    with session_scope() as session:
        assert sessions.authenticate(session, token) == sessions.SignedIn("operator", "operator")
    [row] = audit_rows("auth.login")
    assert (row.actor, row.outcome) == ("operator", "ok")


async def test_a_user_name_is_not_case_sensitive(client: httpx.AsyncClient, make_user: MakeUser):
    person = make_user("viewer", username="vic")
    response = await post_login(client, "  VIC ", person.password)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


@pytest.mark.parametrize("username", ["viewer", "nobody"])
async def test_a_wrong_password_or_unknown_user_gets_the_same_answer_and_no_session(
    client: httpx.AsyncClient, make_user: MakeUser, username: str
):
    make_user("viewer")
    response = await post_login(client, username, "wrong-password", "/runs/7")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?error=invalid&next=%2Fruns%2F7"
    assert "set-cookie" not in response.headers
    assert session_count() == 0
    [row] = audit_rows("auth.login")
    assert (row.actor, row.outcome) == (username, "refused")


async def test_a_deactivated_user_cannot_sign_in(client: httpx.AsyncClient, make_user: MakeUser):
    person = make_user("admin")
    with session_scope() as session:
        user = session.get(User, "admin")
        assert user is not None
        user.active = False
    response = await post_login(client, person.username, person.password)
    assert response.headers["location"].startswith("/signin?error=invalid")
    assert session_count() == 0


async def test_an_empty_field_asks_for_both(client: httpx.AsyncClient, make_user: MakeUser):
    make_user()
    response = await post_login(client, "viewer", "")
    assert response.headers["location"] == "/signin?error=missing"


@pytest.mark.parametrize("origin", ["https://evil.example", "http://testserver.evil.example", None])
async def test_a_post_from_another_origin_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, origin: str | None
):
    person = make_user()
    response = await post_login(client, person.username, person.password, origin=origin)
    assert response.status_code == 403
    assert "only accepts forms from http://testserver" in response.text
    assert session_count() == 0


async def test_a_referer_on_the_site_stands_in_for_a_missing_origin(
    client: httpx.AsyncClient, make_user: MakeUser
):
    person = make_user()
    response = await client.post(
        "/auth/login",
        data={"username": person.username, "password": person.password},
        headers={"Referer": f"{TEST_ORIGIN}/signin/?next=%2F"},
    )
    assert response.status_code == 303
    assert session_count() == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/runs/7", "/runs/7"),
        ("/runs/7?tab=logs#top", "/runs/7?tab=logs#top"),
        ("/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("runs/7", "/"),
        ("/\t/evil.example", "/"),
        ("/runs\n/7", "/"),
        ("", "/"),
        (None, "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_safe_next_keeps_only_paths_on_this_site(value: object, expected: str):
    assert safe_next(value) == expected


async def test_next_to_another_site_signs_in_and_stays_on_the_site(
    client: httpx.AsyncClient, make_user: MakeUser
):
    person = make_user()
    response = await post_login(client, person.username, person.password, "https://evil.example")
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_after_the_free_failures_even_the_right_password_must_wait(
    client: httpx.AsyncClient, make_user: MakeUser
):
    person = make_user()
    for _ in range(throttle.FREE_FAILURES):
        await post_login(client, person.username, "wrong-password")
    response = await post_login(client, person.username, person.password)
    assert response.headers["location"] == "/signin?error=wait"
    assert session_count() == 0


async def test_a_good_sign_in_forgets_earlier_failures(
    client: httpx.AsyncClient, make_user: MakeUser
):
    person = make_user()
    for _ in range(throttle.FREE_FAILURES - 1):
        await post_login(client, person.username, "wrong-password")
    assert (await post_login(client, person.username, person.password)).headers["location"] == "/"
    for _ in range(throttle.FREE_FAILURES - 1):
        await post_login(client, person.username, "wrong-password")
    assert (await post_login(client, person.username, person.password)).headers["location"] == "/"


async def test_sign_out_ends_this_session_only(client: httpx.AsyncClient, make_user: MakeUser):
    person = make_user()
    other = await sign_in(client, person)
    client.cookies.clear()
    mine = await sign_in(client, person)
    response = await client.post("/auth/logout", headers={"Origin": TEST_ORIGIN})
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?signed_out=1"
    assert 'etl_session=""' in response.headers["set-cookie"]
    with session_scope() as session:
        assert sessions.authenticate(session, mine) is None
        assert sessions.authenticate(session, other) is not None
    [row] = audit_rows("auth.logout")
    assert row.params == {"everywhere": False, "sessions_ended": 1}


async def test_sign_out_everywhere_ends_every_session_of_that_user_only(
    client: httpx.AsyncClient, make_user: MakeUser
):
    person = make_user("viewer")
    bystander: Person = make_user("operator")
    theirs = await sign_in(client, bystander)
    client.cookies.clear()
    await sign_in(client, person)
    client.cookies.clear()
    await sign_in(client, person)
    await client.post("/auth/logout", data={"everywhere": "1"}, headers={"Origin": TEST_ORIGIN})
    with session_scope() as session:
        remaining = session.exec(select(UserSession.username)).all()
        assert sessions.authenticate(session, theirs) is not None
    assert remaining == ["operator"]


async def test_sign_out_from_another_origin_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
):
    await sign_in(client, make_user())
    response = await client.post("/auth/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert session_count() == 1
