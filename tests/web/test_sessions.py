"""Sessions in dw_etl_sessions: only a hash is stored, they expire, and sign-out ends them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import User, UserSession
from etl_orchestrator.web import sessions
from tests.web.conftest import MakeUser


def start(username: str, ttl: timedelta = sessions.SESSION_TTL) -> str:
    with session_scope() as session:
        return sessions.create_session(session, username=username, ttl=ttl)


def who(token: str | None) -> sessions.SignedIn | None:
    with session_scope() as session:
        return sessions.authenticate(session, token)


def test_a_new_session_names_its_user_with_the_role_from_the_database(make_user: MakeUser):
    make_user("operator", username="olga")
    assert who(start("olga")) == sessions.SignedIn(username="olga", role="operator")


def test_only_a_hash_of_the_token_is_stored(make_user: MakeUser):
    make_user()
    token = start("viewer")
    with session_scope() as session:
        stored = session.exec(select(UserSession.session_hash)).all()
    assert stored == [sessions.token_hash(token)]
    assert token not in stored


@pytest.mark.parametrize("token", [None, "", "not-a-session"])
def test_no_or_an_unknown_token_is_nobody(make_user: MakeUser, token: str | None):
    make_user()
    start("viewer")
    assert who(token) is None


def test_an_expired_session_is_nobody_and_is_deleted(make_user: MakeUser):
    make_user()
    token = start("viewer", ttl=timedelta(seconds=-1))
    assert who(token) is None
    with session_scope() as session:
        assert session.exec(select(UserSession)).all() == []


def test_a_role_change_shows_on_the_next_check(make_user: MakeUser):
    make_user("operator", username="olga")
    token = start("olga")
    with session_scope() as session:
        user = session.get(User, "olga")
        assert user is not None
        user.role = "viewer"
    assert who(token) == sessions.SignedIn(username="olga", role="viewer")


def test_a_deactivated_user_has_no_session(make_user: MakeUser):
    make_user("admin", username="ada")
    token = start("ada")
    with session_scope() as session:
        user = session.get(User, "ada")
        assert user is not None
        user.active = False
    assert who(token) is None


def test_ending_one_session_leaves_the_users_others(make_user: MakeUser):
    make_user()
    first, second = start("viewer"), start("viewer")
    with session_scope() as session:
        assert sessions.end_session(session, first) == "viewer"
    assert who(first) is None
    assert who(second) is not None


def test_ending_all_sessions_of_a_user_leaves_other_users(make_user: MakeUser):
    make_user("viewer", username="vic")
    make_user("operator", username="olga")
    vics = [start("vic"), start("vic")]
    olgas = start("olga")
    with session_scope() as session:
        assert sessions.end_all_sessions(session, "VIC") == 2
    assert [who(t) for t in vics] == [None, None]
    assert who(olgas) is not None


def test_purge_expired_deletes_only_expired_sessions(make_user: MakeUser):
    make_user()
    live = start("viewer")
    start("viewer", ttl=timedelta(seconds=-1))
    with session_scope() as session:
        assert sessions.purge_expired(session) == 1
    assert who(live) is not None


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("etl_session=abc", "abc"),
        ("theme=dark; etl_session=abc; other=1", "abc"),
        ('bad"cookie; etl_session=abc', "abc"),
        ("etl_session=", None),
        ("xetl_session=abc", None),
        ("", None),
        (None, None),
    ],
)
def test_token_from_cookies_finds_only_the_session_cookie(header: str | None, token: str | None):
    assert sessions.token_from_cookies(header) == token
