"""Console sign-in sessions in dw_etl_sessions: create, check and end them; read the cookie."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from etl_orchestrator.db import db_now
from etl_orchestrator.models import UserSession
from etl_orchestrator.services import users

COOKIE_NAME = "etl_session"
SESSION_TTL = timedelta(hours=12)
#: last_seen_at is a hint for people, not a lease: write it at most this often per session.
SEEN_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class SignedIn:
    """Who a valid session belongs to, with the role read from the database just now."""

    username: str
    role: str


def token_hash(token: str) -> str:
    """Only this hash is stored: a copy of the table does not let anyone sign in."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(session: Session, *, username: str, ttl: timedelta = SESSION_TTL) -> str:
    """Start a session for `username` and return its secret token (only the cookie holds it)."""
    token = secrets.token_urlsafe(32)
    now = db_now(session)
    session.add(
        UserSession(
            session_hash=token_hash(token),
            username=users.normalize_username(username),
            created_at=now,
            expires_at=now + ttl,
            last_seen_at=now,
        )
    )
    session.flush()
    return token


def authenticate(session: Session, token: str | None) -> SignedIn | None:
    """The user of a live session, or None (unknown, expired, or the user was deactivated)."""
    if not token:
        return None
    row = session.get(UserSession, token_hash(token))
    if row is None:
        return None
    now = db_now(session)
    if row.expires_at <= now:
        session.delete(row)
        return None
    role = users.get_role(session, row.username)
    if role is None:
        return None
    if row.last_seen_at is None or now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
    return SignedIn(username=row.username, role=role)


def end_session(session: Session, token: str | None) -> str | None:
    """End one session; returns its user name, or None when there was no such session."""
    if not token:
        return None
    row = session.get(UserSession, token_hash(token))
    if row is None:
        return None
    session.delete(row)
    return row.username


def end_all_sessions(session: Session, username: str) -> int:
    """End every session of a user ("sign out everywhere"); returns how many there were."""
    result = session.execute(
        delete(UserSession).where(col(UserSession.username) == users.normalize_username(username))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_expired(session: Session) -> int:
    """Delete expired sessions; returns how many."""
    result = session.execute(
        delete(UserSession).where(col(UserSession.expires_at) <= db_now(session))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def token_from_cookies(cookie_header: str | None) -> str | None:
    """The session token in a Cookie header, or None."""
    # Split by hand: http.cookies gives up on the whole header at the first odd cookie, and
    # other apps on the same host may set those.
    for part in (cookie_header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE_NAME and value:
            return value.strip('"')
    return None
