"""Trusted-proxy sign-in: X-Forwarded-User / X-Forwarded-Groups, believed only from the
addresses in ETL_TRUSTED_PROXIES; groups map to roles through ETL_PROXY_GROUP_ROLES.

A proxied user is added to dw_etl_users on first sight (with an unusable password) and given
the highest role of their groups each time a session starts, so every role check, which reads
the database, sees what the proxy says. A user an admin deactivated stays out.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import Session

from etl_orchestrator.auth import hash_password
from etl_orchestrator.config import get_settings
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import User
from etl_orchestrator.services import audit, users
from etl_orchestrator.web import sessions
from etl_orchestrator.web.sessions import SignedIn

USER_HEADER = "x-forwarded-user"
GROUPS_HEADER = "x-forwarded-groups"
ACTOR = "proxy"


@dataclass(frozen=True)
class Claim:
    """Who the proxy says is asking, and the role their groups give."""

    username: str
    role: str


def is_trusted(address: str | None) -> bool:
    networks = get_settings().etl_trusted_proxies
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def role_of_groups(groups: str) -> str | None:
    """The highest role any of these comma-separated groups maps to, or None."""
    mapping = get_settings().etl_proxy_group_roles
    roles = {mapping[g.strip()] for g in groups.split(",") if g.strip() in mapping}
    return max(roles, key=users.ROLES.index) if roles else None


def claim(address: str | None, headers: Mapping[str, str]) -> Claim | None:
    """The proxy's claim, when the request came from a trusted proxy and names a user whose
    groups give a role; None otherwise (the headers of anyone else are ignored)."""
    if not is_trusted(address):
        return None
    username = users.normalize_username(headers.get(USER_HEADER) or "")
    if not username or not users.USERNAME_RE.match(username):
        return None
    role = role_of_groups(headers.get(GROUPS_HEADER) or "")
    return Claim(username, role) if role is not None else None


def provision(session: Session, found: Claim) -> SignedIn | None:
    """Add or update the proxied user (audited); None when an admin deactivated them."""
    user = session.get(User, found.username)
    if user is None:
        user = User(
            username=found.username,
            # Nobody knows this password: a proxied user signs in through the proxy only.
            password_hash=hash_password(secrets.token_urlsafe(32)),
            role=found.role,
        )
        session.add(user)
        session.flush()
        audit.record(
            session,
            actor=ACTOR,
            action="users.add",
            target=found.username,
            params={"role": found.role},
            detail="first sign-in through the trusted proxy",
        )
    elif not user.active:
        return None
    elif user.role != found.role:
        audit.record(
            session,
            actor=ACTOR,
            action="users.role",
            target=found.username,
            params={"from": user.role, "to": found.role},
            detail="role from the proxy's groups",
        )
        user.role = found.role
        session.add(user)
        session.flush()
    return SignedIn(username=found.username, role=found.role)


def session_for(
    found: Claim, cookie_header: str | None, address: str
) -> tuple[SignedIn | None, str | None]:
    """(the proxied user, a new session token when the cookie is not already theirs).

    Blocking: call from a thread. (None, None) when the user was deactivated.
    """
    with session_scope() as session:
        current = sessions.authenticate(session, sessions.token_from_cookies(cookie_header))
        who = provision(session, found)
        if who is None:
            return None, None
        if current is not None and current.username == who.username:
            return who, None
        token = sessions.create_session(session, username=who.username)
        audit.record(
            session,
            actor=who.username,
            role=who.role,
            action="auth.login",
            detail=f"signed in through the trusted proxy {address}",
        )
        return who, token


def api_user(address: str | None, headers: Mapping[str, str]) -> SignedIn | None:
    """The proxied user of an API request, or None (blocking: call from a thread)."""
    found = claim(address, headers)
    if found is None:
        return None
    with session_scope() as session:
        return provision(session, found)
