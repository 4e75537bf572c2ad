"""API tokens for scripts and monitors: issue one for a user, check a bearer token.

Only the SHA-256 of a token is stored (dw_etl_api_tokens.token_hash); the secret is shown once,
when it is issued. A token acts as its user, with the user's role as the database has it now.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from etl_orchestrator.db import db_now
from etl_orchestrator.models import ApiToken
from etl_orchestrator.services import audit, users
from etl_orchestrator.web.sessions import SignedIn, token_hash

#: Tokens start with this, so a leaked one is recognisable (and secret scanners can match it).
PREFIX = "etl_"
MAX_DAYS = 3650
MAX_LABEL = 200


class TokenError(ValueError):
    """The token could not be issued; the message says why."""


@dataclass(frozen=True)
class IssuedToken:
    secret: str
    username: str
    label: str
    expires_at: datetime | None


def issue(
    session: Session, *, username: str, label: str, days: int | None, actor: str
) -> IssuedToken:
    """A new token for an active user (audited as `actor`); `days=None` never expires."""
    username = users.normalize_username(username)
    label = label.strip()
    if users.get_role(session, username) is None:
        raise TokenError(f"no active user {username!r}: add one with `etl-orchestrator users add`")
    if not label:
        raise TokenError("give the token a --label saying what uses it (e.g. 'grafana')")
    if len(label) > MAX_LABEL:
        raise TokenError(f"the label is longer than {MAX_LABEL} characters")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise TokenError(f"--days {days} is out of range: use 1 to {MAX_DAYS}")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = db_now(session)
    expires_at = now + timedelta(days=days) if days is not None else None
    session.add(
        ApiToken(
            token_hash=token_hash(secret),
            username=username,
            label=label,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="users.token",
        target=username,
        params={"label": label, "days": days},
    )
    return IssuedToken(secret=secret, username=username, label=label, expires_at=expires_at)


def authenticate(session: Session, secret: str | None) -> SignedIn | None:
    """The user a live token belongs to, or None (unknown, expired, or the user is inactive)."""
    if not secret or not secret.startswith(PREFIX):
        return None
    row = session.get(ApiToken, token_hash(secret))
    if row is None or (row.expires_at is not None and row.expires_at <= db_now(session)):
        return None
    role = users.get_role(session, row.username)
    return SignedIn(username=row.username, role=role) if role is not None else None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
