"""Plain HTTP routes: GET /healthz (public liveness) and GET /api/health (signed-in users).

/api routes accept a session cookie (the console) or `Authorization: Bearer <API token>`.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from etl_orchestrator.db import session_scope
from etl_orchestrator.web import api_tokens, proxy_auth, sessions
from etl_orchestrator.web.health import current_health


def signed_in_user(cookie_header: str | None) -> sessions.SignedIn | None:
    """The user of the session the request's cookie names (blocking: call from a thread)."""
    token = sessions.token_from_cookies(cookie_header)
    if token is None:
        return None
    with session_scope() as session:
        return sessions.authenticate(session, token)


def _api_user(address: str | None, headers: Headers) -> sessions.SignedIn | None:
    """A bearer token, when one is sent, decides alone; then a trusted proxy's user header;
    then the session cookie."""
    authorization = headers.get("authorization")
    if authorization is not None:
        secret = api_tokens.bearer_token(authorization)
        with session_scope() as session:
            return api_tokens.authenticate(session, secret)
    if proxy_auth.claim(address, headers) is not None:
        return proxy_auth.api_user(address, headers)
    return signed_in_user(headers.get("cookie"))


async def api_user(request: Request) -> sessions.SignedIn | None:
    address = request.client.host if request.client else None
    return await run_in_threadpool(_api_user, address, request.headers)


def unauthorized() -> Response:
    return JSONResponse(
        {
            "error": "not signed in: send `Authorization: Bearer <token>` (etl-orchestrator "
            "users token NAME --label L), or sign in at /signin and send the session cookie"
        },
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def healthz(_request: Request) -> Response:
    """Liveness only: the process answers. Says nothing about the system, so it needs no sign-in."""
    return JSONResponse({"status": "ok"})


async def api_health(request: Request) -> Response:
    if await api_user(request) is None:
        return unauthorized()
    summary = await current_health()
    if not summary.available:
        return JSONResponse({"status": "unknown", "detail": "this version has no health check"})
    # 503 when the system cannot work at all, so a monitor can alert on the status code alone.
    return JSONResponse(summary.report, status_code=503 if summary.status == "down" else 200)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/api/health", api_health, methods=["GET"]),
]
