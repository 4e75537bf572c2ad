"""ASGI middleware: a browser opening a console page without a session is sent to sign in."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from etl_orchestrator.web import proxy_auth
from etl_orchestrator.web.api import signed_in_user
from etl_orchestrator.web.auth_routes import SIGNIN_PATH, set_session_cookie

#: Pages anyone may open.
PUBLIC_PAGES = frozenset({SIGNIN_PATH, "/healthz", "/404"})


def needs_session(method: str, path: str, accept: str) -> bool:
    """Page loads (HTML navigations) need a session; scripts, styles, the websocket and the
    framework's own endpoints do not (they hold no data; event handlers check the session)."""
    if method not in ("GET", "HEAD") or "text/html" not in accept:
        return False
    page = path.rstrip("/") or "/"
    if page in PUBLIC_PAGES or page.startswith(("/auth/", "/_")):
        return False
    last = page.rsplit("/", 1)[-1]
    return "." not in last


class SessionGate:
    """Redirects (303) page loads without a valid session to /signin?next=<the page>."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            if needs_session(scope["method"], scope["path"], headers.get("accept", "")):
                target = scope["path"]
                if scope.get("query_string"):
                    target += "?" + scope["query_string"].decode("latin-1")
                client = scope.get("client")
                address = client[0] if client else ""
                found = proxy_auth.claim(address, headers)
                if found is not None:
                    await self._proxied(found, headers, address, target, scope, receive, send)
                    return
                who = await run_in_threadpool(signed_in_user, headers.get("cookie"))
                if who is None:
                    location = SIGNIN_PATH
                    if target != "/":
                        location += "?next=" + quote(target, safe="")
                    await RedirectResponse(location, status_code=303)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _proxied(
        self,
        found: proxy_auth.Claim,
        headers: Headers,
        address: str,
        target: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """A trusted proxy named the user: give them a session (cookie, then the same page
        again), or pass the request on when the cookie is already theirs."""
        who, token = await run_in_threadpool(
            proxy_auth.session_for, found, headers.get("cookie"), address
        )
        if who is None:
            refused = PlainTextResponse(
                f"{found.username} is deactivated in the console: ask an admin.", status_code=403
            )
            await refused(scope, receive, send)
            return
        if token is not None:
            response = RedirectResponse(target, status_code=303)
            set_session_cookie(response, token)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
