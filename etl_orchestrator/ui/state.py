"""Shared console states: who is signed in, and the live feeds every viewer of a page shares."""

from __future__ import annotations

import re
from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.db import session_scope
from etl_orchestrator.web import sessions, snapshots
from etl_orchestrator.web.actions import OPERATOR, allows
from etl_orchestrator.web.health import HealthSummary, current_health

LIVE_TOKEN = "console"  # noqa: S105 - a shared-state name, not a secret
#: Failure toasts stay this long (the live task removes older ones).
TOAST_S = 30.0
MAX_TOASTS = 5
_RUN_PATH = re.compile(r"^/runs/(\d{1,18})/?$")


def run_token(run_id: int) -> str:
    """The shared-state token of one run's viewers (tokens may not contain '_')."""
    return f"run{run_id}"


def signed_in(state: rx.State) -> sessions.SignedIn | None:
    """The user of this client's session, read from the database now.

    The cookie comes from the websocket upgrade request (the browser sends the HttpOnly cookie,
    page scripts cannot set it), and the session row and role are looked up on every call.
    """
    token = sessions.token_from_cookies(state.router.headers.cookie)
    if token is None:
        return None
    with session_scope() as session:
        return sessions.authenticate(session, token)


def signin_redirect(state: rx.State) -> EventSpec:
    url = state.router.url
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return rx.redirect("/signin?next=" + quote(target, safe="") if target != "/" else "/signin")


def run_id_of_path(path: str) -> int | None:
    match = _RUN_PATH.match(path)
    return int(match.group(1)) if match else None


class AuthState(rx.State):
    """Who is signed in, for display only: handlers that change things check again themselves."""

    username: rx.Field[str] = rx.field("")
    role: rx.Field[str] = rx.field("")

    @rx.var
    def can_operate(self) -> bool:
        return allows(self.role or None, OPERATOR)

    def _refresh(self) -> sessions.SignedIn | None:
        who = signed_in(self)
        self.username, self.role = (who.username, who.role) if who else ("", "")
        return who


class LiveFeed(rx.SharedState):
    """The overview, slot use, health and failure toasts, shared by every signed-in viewer.

    Only the live task and page loads write it; it has no event handlers of its own (a client
    could call any public handler, with any arguments, and every viewer would see the result).
    """

    counts: rx.Field[list[snapshots.StatusCount]] = rx.field(default_factory=list)
    latest: rx.Field[list[snapshots.RunRow]] = rx.field(default_factory=list)
    running: rx.Field[int] = rx.field(0)
    cap: rx.Field[int] = rx.field(0)
    health_degraded: rx.Field[bool] = rx.field(False)
    health_problems: rx.Field[list[str]] = rx.field(default_factory=list)
    #: Backend only: False until a health check has filled this feed (then the live task does).
    _health_checked: bool = False
    announcement: rx.Field[str] = rx.field("")
    toasts: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)

    def _apply_overview(self, overview: snapshots.Overview, announcement: str = "") -> None:
        # Assign only what changed: every assignment is sent to every linked viewer.
        if self.counts != overview.counts:
            self.counts = overview.counts
        if self.latest != overview.latest:
            self.latest = overview.latest
        if (self.running, self.cap) != (overview.running, overview.cap):
            self.running, self.cap = overview.running, overview.cap
        if announcement:
            self.announcement = announcement

    def _apply_health(self, health: HealthSummary) -> None:
        self._health_checked = True
        problems = health.problems or ([f"status: {health.status}"] if health.degraded else [])
        if (self.health_degraded, self.health_problems) != (health.degraded, problems):
            self.health_degraded, self.health_problems = health.degraded, problems

    def _add_toasts(self, failures: list[dict[str, str]], now: float) -> None:
        kept = [t for t in self.toasts if now - float(t["at"]) < TOAST_S]
        fresh = [{**f, "at": f"{now:.3f}"} for f in failures]
        if fresh or len(kept) != len(self.toasts):
            self.toasts = (kept + fresh)[-MAX_TOASTS:]


class RunFeed(rx.SharedState):
    """One run's summary, shared by everyone viewing /runs/<id> (linked to run_token(id))."""

    run: rx.Field[snapshots.RunSummary] = rx.field(default_factory=snapshots.RunSummary)
    announcement: rx.Field[str] = rx.field("")

    def _apply(self, summary: snapshots.RunSummary) -> None:
        old = self.run.status if self.run.run_id == summary.run_id else ""
        if old and old != summary.status:
            self.announcement = f"Run {summary.run_id} is now {summary.status.replace('_', ' ')}"
        self.run = summary


async def join_live(state: rx.State) -> LiveFeed:
    """Link this client to the shared live feed, brought up to date from the database."""
    feed = await state.get_state(LiveFeed)
    feed = await feed._link_to(LIVE_TOKEN)
    with session_scope() as session:
        feed._apply_overview(snapshots.overview(session))
    if not feed._health_checked:
        feed._apply_health(await current_health())
    return feed


class ToastState(rx.State):
    """Which failure toasts this one client closed."""

    dismissed: rx.Field[list[str]] = rx.field(default_factory=list)

    def dismiss(self, toast_id: str) -> None:
        if toast_id not in self.dismissed:
            self.dismissed = [*self.dismissed[-50:], toast_id]
