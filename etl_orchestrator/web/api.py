"""Plain HTTP routes: GET /healthz (public liveness) and GET /api/health (signed-in users)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from etl_orchestrator.db import session_scope
from etl_orchestrator.web import sessions
from etl_orchestrator.web.health import current_health


def signed_in_user(cookie_header: str | None) -> sessions.SignedIn | None:
    """The user of the session the request's cookie names (blocking: call from a thread)."""
    token = sessions.token_from_cookies(cookie_header)
    if token is None:
        return None
    with session_scope() as session:
        return sessions.authenticate(session, token)


async def healthz(_request: Request) -> Response:
    """Liveness only: the process answers. Says nothing about the system, so it needs no sign-in."""
    return JSONResponse({"status": "ok"})


async def api_health(request: Request) -> Response:
    who = await run_in_threadpool(signed_in_user, request.headers.get("cookie"))
    if who is None:
        return JSONResponse(
            {"error": "not signed in: sign in at /signin, then send the session cookie"},
            status_code=401,
        )
    summary = await current_health()
    if not summary.available:
        return JSONResponse({"status": "unknown", "detail": "this version has no health check"})
    # 503 when the system cannot work at all, so a monitor can alert on the status code alone.
    return JSONResponse(summary.report, status_code=503 if summary.status == "down" else 200)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/api/health", api_health, methods=["GET"]),
]
