"""API tokens: issued once with only a hash stored, accepted as a bearer token on /api routes."""

from __future__ import annotations

import hashlib
import sys
import types
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import ApiToken, AuditEntry, User
from etl_orchestrator.web import api_tokens
from etl_orchestrator.web.health import HEALTH_MODULE
from tests.web.conftest import MakeUser


def issue(username: str = "viewer", days: int | None = None) -> str:
    with session_scope() as session:
        return api_tokens.issue(
            session, username=username, label="monitor", days=days, actor="test"
        ).secret


@pytest.fixture(autouse=True)
def healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType(HEALTH_MODULE)
    module.check_health = lambda: {"status": "ok", "checks": []}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, HEALTH_MODULE, module)


def test_only_the_hash_of_an_issued_token_is_stored_and_the_issue_is_audited(
    make_user: MakeUser,
):
    make_user("viewer")
    secret = issue(days=30)
    assert secret.startswith(api_tokens.PREFIX)
    with session_scope() as session:
        [row] = session.exec(select(ApiToken)).all()
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "users.token"))
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (row.token_hash, row.label)
        assert (row.username, row.label) == ("viewer", "monitor")
        assert row.expires_at is not None
        assert timedelta(days=29) < row.expires_at - row.created_at <= timedelta(days=30)
        assert (entry.target, entry.params) == ("viewer", {"label": "monitor", "days": 30})


@pytest.mark.parametrize(
    ("username", "label", "days", "message"),
    [
        ("nobody", "x", None, "no active user"),
        ("viewer", "  ", None, "--label"),
        ("viewer", "x", 0, "--days 0 is out of range"),
    ],
)
def test_a_token_is_refused_for_an_unknown_user_without_a_label_or_with_bad_days(
    make_user: MakeUser, username: str, label: str, days: int | None, message: str
):
    make_user("viewer")
    with session_scope() as session, pytest.raises(api_tokens.TokenError, match=message):
        api_tokens.issue(session, username=username, label=label, days=days, actor="test")


async def test_api_health_accepts_a_valid_bearer_token(
    client: httpx.AsyncClient, make_user: MakeUser
):
    make_user("viewer")
    secret = issue()
    response = await client.get("/api/health", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer etl_not-a-token", "Bearer ", "Basic dmlld2VyOnNlY3JldA==", "Bearer"],
)
async def test_api_health_refuses_a_wrong_or_malformed_authorization(
    client: httpx.AsyncClient, make_user: MakeUser, authorization: str
):
    make_user("viewer")
    issue()
    response = await client.get("/api/health", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_an_expired_token_or_one_of_a_deactivated_user_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
):
    make_user("viewer")
    make_user("operator")
    expired, deactivated = issue("viewer", days=1), issue("operator")
    with session_scope() as session:
        for row in session.exec(select(ApiToken).where(ApiToken.username == "viewer")):
            row.expires_at = row.created_at - timedelta(seconds=1)
        user = session.get(User, "operator")
        assert user is not None
        user.active = False
    for secret in (expired, deactivated):
        response = await client.get("/api/health", headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 401


def test_bearer_token_parsing():
    assert api_tokens.bearer_token("Bearer abc") == "abc"
    assert api_tokens.bearer_token("bearer  abc ") == "abc"
    assert api_tokens.bearer_token("Basic abc") is None
    assert api_tokens.bearer_token(None) is None
