"""POST /auth/login and /auth/logout: plain form posts that set or clear the session cookie."""

from __future__ import annotations

import logging
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from etl_orchestrator.auth import hash_password, verify_password
from etl_orchestrator.config import get_settings
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import User
from etl_orchestrator.redis_conn import sync_client
from etl_orchestrator.services import audit, users
from etl_orchestrator.web import sessions
from etl_orchestrator.web.throttle import SignInThrottle

log = logging.getLogger(__name__)

SIGNIN_PATH = "/signin"
#: Checked against when the user name is unknown, so that answer takes as long as a wrong password.
_DUMMY_HASH = hash_password("not a password anyone has")


def base_origin() -> str:
    """scheme://host[:port] of BASE_URL: the one origin the console answers forms from."""
    parts = urlsplit(get_settings().base_url)
    return f"{parts.scheme}://{parts.netloc}"


def request_origin(request: Request) -> str | None:
    """The Origin header, or the origin of the Referer when a browser sent no Origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def safe_next(value: object) -> str:
    """`value` when it is a path on this site ("/runs/7?tab=logs"), else "/".

    Refuses anything a browser could read as another site: "//evil", "/\\evil", "https://…",
    and control characters that some browsers strip before parsing.
    """
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2048:
        return "/"
    if value.startswith(("//", "/\\")) or any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _signin_redirect(error: str, next_path: str) -> RedirectResponse:
    query = f"error={error}"
    if next_path != "/":
        query += "&next=" + quote(next_path, safe="")
    return RedirectResponse(f"{SIGNIN_PATH}?{query}", status_code=303)


def _refuse_origin(request: Request) -> Response | None:
    origin = request_origin(request)
    expected = base_origin()
    if origin == expected:
        return None
    return PlainTextResponse(
        f"Refused: this form was sent from {origin or 'an unknown page'}, but the console only "
        f"accepts forms from {expected}. Open {expected} and try again (or, if that address is "
        "wrong, set BASE_URL to where the console is reached).",
        status_code=403,
    )


def _sign_in(username: str, password: str, address: str) -> tuple[str | None, str]:
    """Check the password under the throttle; returns (session token, error code)."""
    throttle = SignInThrottle(sync_client())
    if throttle.wait_s(username, address):
        return None, "wait"
    with session_scope() as session:
        user = session.get(User, username) if username else None
        known = user is not None and user.active
        ok = verify_password(user.password_hash if known and user else _DUMMY_HASH, password)
        if not (known and ok):
            throttle.failed(username, address)
            audit.record(
                session,
                actor=username or "anonymous",
                action="auth.login",
                outcome="refused",
                detail=f"wrong user name or password from {address}",
            )
            return None, "invalid"
        assert user is not None
        throttle.succeeded(username, address)
        sessions.purge_expired(session)  # sign-ins are rare enough to do the sweeping
        token = sessions.create_session(session, username=username)
        audit.record(
            session,
            actor=username,
            role=user.role,
            action="auth.login",
            detail=f"signed in from {address}",
        )
    return token, ""


async def login(request: Request) -> Response:
    refused = _refuse_origin(request)
    if refused is not None:
        return refused
    form = await request.form()
    username = users.normalize_username(str(form.get("username") or ""))
    password = str(form.get("password") or "")
    next_path = safe_next(form.get("next"))
    if not username or not password:
        return _signin_redirect("missing", next_path)
    if len(password) > users.MAX_PASSWORD_LENGTH or len(username) > 128:
        return _signin_redirect("invalid", next_path)
    address = request.client.host if request.client else ""
    try:
        token, error = await run_in_threadpool(_sign_in, username, password, address)
    except Exception:
        # The database or Redis is down: say so rather than pretend the password was wrong.
        log.exception("sign-in failed for %r", username)
        return _signin_redirect("unavailable", next_path)
    if token is None:
        return _signin_redirect(error, next_path)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, token)
    return response


def set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=int(sessions.SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=base_origin().startswith("https://"),
    )


def _sign_out(token: str | None, everywhere: bool) -> None:
    with session_scope() as session:
        who = sessions.authenticate(session, token)
        if who is None:
            sessions.end_session(session, token)
            return
        if everywhere:
            ended = sessions.end_all_sessions(session, who.username)
        else:
            ended = 1 if sessions.end_session(session, token) else 0
        audit.record(
            session,
            actor=who.username,
            role=who.role,
            action="auth.logout",
            params={"everywhere": everywhere, "sessions_ended": ended},
        )


async def logout(request: Request) -> Response:
    refused = _refuse_origin(request)
    if refused is not None:
        return refused
    form = await request.form()
    everywhere = form.get("everywhere") == "1"
    token = sessions.token_from_cookies(request.headers.get("cookie"))
    await run_in_threadpool(_sign_out, token, everywhere)
    response = RedirectResponse(f"{SIGNIN_PATH}?signed_out=1", status_code=303)
    response.delete_cookie(sessions.COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response


routes = [
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
]
