"""People who sign in: adding users with a role, and looking a role up."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from etl_orchestrator.auth import hash_password
from etl_orchestrator.models import User
from etl_orchestrator.services import audit

ROLES = ("viewer", "operator", "admin")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,127}$")


class UserError(ValueError):
    """A user cannot be added or changed as asked; the message says what to do instead."""


def normalize_username(username: str) -> str:
    """User names are case-insensitive: stored and looked up in lower case."""
    return username.strip().lower()


def _check(username: str, password: str, role: str) -> None:
    if not USERNAME_RE.match(username):
        raise UserError(
            f"user name {username!r} is invalid: use 1 to 128 letters, digits, '_', '.', '@' "
            "or '-', starting with a letter or digit"
        )
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise UserError("the password must not be only spaces")


def add_user(
    session: Session, *, username: str, password: str, role: str, actor: str = "system"
) -> User:
    """Create an active user with a hashed password, audited as `actor` in the same transaction."""
    username = normalize_username(username)
    _check(username, password, role)
    if session.get(User, username) is not None:
        raise UserError(
            f"user {username!r} already exists; choose another name "
            "(a user name is not case-sensitive)"
        )
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="users.add", target=username, params={"role": role})
    return user


def get_role(session: Session, username: str) -> str | None:
    """The role of an active user, or None for an unknown or deactivated one."""
    return session.exec(
        select(User.role).where(
            User.username == normalize_username(username),
            User.active == True,  # noqa: E712 - SQL comparison, not a Python truth test
        )
    ).first()
