"""The users service: roles, validation, duplicates, and role look-ups."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from etl_orchestrator.auth import verify_password
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, User
from etl_orchestrator.services.users import UserError, add_user, get_role


def add(
    username: str = "alice", password: str = "long enough pw", role: str = "operator", **kwargs: Any
) -> User:
    with session_scope() as session:
        return add_user(session, username=username, password=password, role=role, **kwargs)


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_a_user_is_added_with_a_hashed_password_and_a_role(any_db, role):
    user = add(role=role)
    with session_scope() as session:
        saved = session.get(User, "alice")
        assert saved is not None
        assert (saved.role, saved.active) == (role, True)
        assert verify_password(saved.password_hash, "long enough pw")
        assert get_role(session, "alice") == role
    assert user.username == "alice"


def test_adding_a_user_is_audited(any_db):
    add(actor="cli:root", role="admin")
    with session_scope() as session:
        [entry] = session.exec(select(AuditEntry)).all()
    assert (entry.actor, entry.action, entry.target, entry.params) == (
        "cli:root",
        "users.add",
        "alice",
        {"role": "admin"},
    )


def test_user_names_are_not_case_sensitive(any_db):
    add(username="  Alice ")
    with session_scope() as session:
        assert get_role(session, "ALICE") == "operator"
    with pytest.raises(UserError, match="user 'alice' already exists"):
        add(username="alice")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "root"}, "role 'root' is not one of viewer, operator, admin"),
        ({"password": "short"}, "at least 8 characters"),
        ({"password": " " * 10}, "must not be only spaces"),
        ({"password": "x" * 2000}, "at most 1024 characters"),
        ({"username": "bob smith"}, "user name 'bob smith' is invalid"),
        ({"username": ""}, "user name '' is invalid"),
    ],
)
def test_invalid_input_is_refused_with_a_reason(kwargs, message):
    with pytest.raises(UserError, match=message):
        add(**kwargs)
    with session_scope() as session:
        assert session.exec(select(User)).all() == []


def test_unknown_and_deactivated_users_have_no_role(any_db):
    add()
    with session_scope() as session:
        user = session.get(User, "alice")
        assert user is not None
        user.active = False
        session.add(user)
    with session_scope() as session:
        assert get_role(session, "alice") is None
        assert get_role(session, "nobody") is None
