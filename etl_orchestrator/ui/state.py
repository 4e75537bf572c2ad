"""Shared console states: who is signed in, and the live feeds every viewer of a page shares."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.alerts import queries as alert_queries
from etl_orchestrator.db import session_scope
from etl_orchestrator.redis_conn import sync_client
from etl_orchestrator.services import settings
from etl_orchestrator.web import dag_views, sessions, snapshots
from etl_orchestrator.web.actions import OPERATOR, allows
from etl_orchestrator.web.health import HealthSummary, current_health
from etl_orchestrator.web.live import watch_dag, watch_run

LIVE_TOKEN = "console"  # noqa: S105 - a shared-state name, not a secret
#: Every dependency graph on screen shares the job statuses behind this token.
DAG_TOKEN = "dag"  # noqa: S105 - a shared-state name, not a secret
JOBS_TOKEN = "jobs"  # noqa: S105 - a shared-state name, not a secret
#: Jobs whose live fields JobsFeed keeps (the most recently changed).
MAX_JOB_UPDATES = 300
#: Failure toasts stay this long (the live task removes older ones).
TOAST_S = 30.0
MAX_TOASTS = 5
#: Queued / started / completed notices kept for every viewer; each page shows only its own.
MAX_NOTICES = 30
_RUN_PATH = re.compile(r"^/runs/(\d{1,18})/?$")
#: A client's polls are honoured at most this often, whatever it sends.
MIN_POLL_S = 1.0
#: Polling clients re-run the health check at most this often between them (a shared Redis key).
HEALTH_POLL_MS = 4000
HEALTH_POLL_KEY = "etl:web:poll-health"
#: What a paused page keeps showing (LiveFeed's fields).
LIVE_FIELDS = (
    "counts",
    "latest",
    "running",
    "cap",
    "health_degraded",
    "health_problems",
    "announcement",
    "toasts",
    "notices",
    "latest_ids",
)


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


def is_jobs_path(path: str) -> bool:
    return path.rstrip("/") == "/jobs"


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
    #: Systemic alerts still going on (alerts/queries.open_systemic), shown in the banner.
    alert_problems: rx.Field[list[str]] = rx.field(default_factory=list)
    #: Backend only: False until a health check has filled this feed (then the live task does).
    _health_checked: bool = False
    announcement: rx.Field[str] = rx.field("")
    toasts: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    #: Runs queued, started or completed lately; a page shows those of its user or on screen.
    notices: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    #: The run ids of `latest`, as text (the overview's "runs in view").
    latest_ids: rx.Field[list[str]] = rx.field(default_factory=list)

    def _apply_overview(self, overview: snapshots.Overview, announcement: str = "") -> None:
        # Assign only what changed: every assignment is sent to every linked viewer.
        if self.counts != overview.counts:
            self.counts = overview.counts
        if self.latest != overview.latest:
            self.latest = overview.latest
            self.latest_ids = [str(row.run_id) for row in overview.latest]
        if (self.running, self.cap) != (overview.running, overview.cap):
            self.running, self.cap = overview.running, overview.cap
        if announcement:
            self.announcement = announcement

    def _apply_health(self, health: HealthSummary) -> None:
        self._health_checked = True
        problems = health.problems or ([f"status: {health.status}"] if health.degraded else [])
        if (self.health_degraded, self.health_problems) != (health.degraded, problems):
            self.health_degraded, self.health_problems = health.degraded, problems

    def _apply_alerts(self, lines: list[str]) -> None:
        if self.alert_problems != lines:
            self.alert_problems = lines

    def _add_toasts(
        self,
        failures: list[dict[str, str]],
        now: float,
        notices: list[dict[str, str]] | None = None,
    ) -> None:
        kept = [t for t in self.toasts if now - float(t["at"]) < TOAST_S]
        fresh = [{**f, "at": f"{now:.3f}"} for f in failures]
        if fresh or len(kept) != len(self.toasts):
            self.toasts = (kept + fresh)[-MAX_TOASTS:]
        kept = [n for n in self.notices if now - float(n["at"]) < TOAST_S]
        fresh = [{**n, "at": f"{now:.3f}"} for n in notices or []]
        if fresh or len(kept) != len(self.notices):
            self.notices = (kept + fresh)[-MAX_NOTICES:]


class RunFeed(rx.SharedState):
    """One run's summary, shared by everyone viewing /runs/<id> (linked to run_token(id))."""

    run: rx.Field[snapshots.RunSummary] = rx.field(default_factory=snapshots.RunSummary)
    announcement: rx.Field[str] = rx.field("")

    def _apply(self, summary: snapshots.RunSummary) -> None:
        old = self.run.status if self.run.run_id == summary.run_id else ""
        if old and old != summary.status:
            self.announcement = f"Run {summary.run_id} is now {summary.status.replace('_', ' ')}"
        self.run = summary


class DagFeed(rx.SharedState):
    """Every job's status and what blocks it, shared by every dependency graph on screen.

    Small maps (job -> status, blocked job -> "x, y") that the graph merges into its nodes, so
    a run changing status does not resend any graph's structure. Written only by the live task
    and page loads; no event handlers.
    """

    statuses: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    blocked: rx.Field[dict[str, str]] = rx.field(default_factory=dict)

    def _apply(self, statuses: dict[str, str], blocked: dict[str, str]) -> None:
        # Assign only what changed: every assignment is sent to every linked viewer.
        if self.statuses != statuses:
            self.statuses = statuses
        if self.blocked != blocked:
            self.blocked = blocked


def read_dag_statuses() -> tuple[dict[str, str], dict[str, str]]:
    with session_scope() as session:
        return dag_views.read_live_statuses(session)


async def join_dag(state: rx.State) -> DagFeed:
    """Link this client to the shared job statuses, brought up to date from the database."""
    feed = await state.get_state(DagFeed)
    feed = await feed._link_to(DAG_TOKEN)
    feed._apply(*await asyncio.to_thread(read_dag_statuses))
    await asyncio.to_thread(watch_dag, sync_client())
    return feed


class JobsFeed(rx.SharedState):
    """The live fields of the jobs whose runs changed lately, shared by every open jobs table.

    A bounded map (job id -> fields as text, with "at": when they were read, epoch ms); each
    table overlays the entries newer than its own read on the rows of its window.
    """

    updates: rx.Field[dict[str, dict[str, str]]] = rx.field(default_factory=dict)

    def _apply(self, fields: dict[str, dict[str, str]]) -> None:
        if not fields:
            return
        merged = {job_id: v for job_id, v in self.updates.items() if job_id not in fields}
        merged.update(fields)
        self.updates = dict(list(merged.items())[-MAX_JOB_UPDATES:])


async def join_jobs(state: rx.State) -> JobsFeed:
    """Link this client to the jobs tables' shared live feed."""
    feed = await state.get_state(JobsFeed)
    return await feed._link_to(JOBS_TOKEN)


async def join_live(state: rx.State) -> LiveFeed:
    """Link this client to the shared live feed, brought up to date from the database.

    A page load (or a resume) starts live: pausing holds one view, not the next page.
    """
    feed = await state.get_state(LiveFeed)
    feed = await feed._link_to(LIVE_TOKEN)
    with session_scope() as session:
        feed._apply_overview(snapshots.overview(session))
        poll_s = settings.console_poll_s(session)
        feed._apply_alerts(alert_queries.open_systemic(session))
    if not feed._health_checked:
        feed._apply_health(await current_health())
    control = await state.get_state(LiveControl)
    control._go_live(poll_s)
    return feed


async def join_run(state: rx.State, run_id: int) -> RunFeed:
    """Link this client to one run's shared feed, brought up to date from the database."""
    feed = await state.get_state(RunFeed)
    feed = await feed._link_to(run_token(run_id))
    with session_scope() as session:
        feed._apply(snapshots.run_summary(session, run_id))
    await asyncio.to_thread(watch_run, sync_client(), run_id)
    # Polls and resumes follow this run too (a job page's drawer shows it at any path).
    control = await state.get_state(LiveControl)
    control._run_id = run_id
    return feed


def _health_due() -> bool:
    """True for one polling client per HEALTH_POLL_MS, across every backend worker."""
    return bool(sync_client().set(HEALTH_POLL_KEY, "1", nx=True, px=HEALTH_POLL_MS))


class LiveControl(rx.State):
    """This client's auto-refresh: live (pushed changes, plus a poll in case pushes fail) or
    paused (unlinked from the shared feeds, so nothing arrives, and no polling)."""

    paused: rx.Field[bool] = rx.field(False)
    #: The page's own refresh interval in ms; 0: no polling (only pushed updates).
    poll_ms: rx.Field[int] = rx.field(0)
    #: What the last "Check again" found, shown in the alert banner while it stays up.
    health_note: rx.Field[str] = rx.field("")
    checking: rx.Field[bool] = rx.field(False)
    _frozen_live: dict[str, Any] | None = None
    _frozen_run: snapshots.RunSummary | None = None
    #: The run this client follows (join_run), whatever the page's path; 0: none.
    _run_id: int = 0
    #: A dependency graph's statuses at pause (DagFeed's statuses and blocked).
    _frozen_dag: tuple[dict[str, str], dict[str, str]] | None = None
    _frozen_jobs: dict[str, dict[str, str]] | None = None
    _last_poll: float = 0.0
    _last_check: float = 0.0

    def _go_live(self, poll_s: float) -> None:
        self.paused = False
        self.poll_ms = int(poll_s * 1000)
        self._frozen_live, self._frozen_run, self._frozen_dag = None, None, None
        self._frozen_jobs = None
        self._run_id = 0

    def _followed_run(self) -> int | None:
        return self._run_id or run_id_of_path(self.router.url.path)

    async def toggle(self) -> Any:
        if self.paused:
            return await self._resume()
        return await self._pause()

    async def _pause(self) -> Any:
        if signed_in(self) is None:
            return signin_redirect(self)
        feed = await self.get_state(LiveFeed)
        self._frozen_live = {name: getattr(feed, name) for name in LIVE_FIELDS}
        # A feed that is not linked (the page never finished loading) gets no pushes anyway.
        rehydrate = await feed._unlink() if feed._linked_to else []  # type: ignore[no-untyped-call]
        run_feed = await self.get_state(RunFeed)
        if run_feed._linked_to:
            self._frozen_run = run_feed.run
            await run_feed._unlink()  # type: ignore[no-untyped-call]
        dag_feed = await self.get_state(DagFeed)
        if dag_feed._linked_to:
            self._frozen_dag = (dag_feed.statuses, dag_feed.blocked)
            rehydrate = [*rehydrate, *await dag_feed._unlink()]  # type: ignore[no-untyped-call]
        jobs_feed = await self.get_state(JobsFeed)
        if jobs_feed._linked_to:
            self._frozen_jobs = jobs_feed.updates
            await jobs_feed._unlink()  # type: ignore[no-untyped-call]
        self.paused = True
        # Unlinked, the page would show this client's private (empty) copies: fill them with
        # what was on screen before the page is sent the whole state again.
        return [LiveControl.restore_frozen, *rehydrate]

    async def restore_frozen(self) -> None:
        """Put the view as it was at pause into this client's private copies (no-op when live)."""
        if not self.paused:
            return
        if self._frozen_live is not None:
            feed = await self.get_state(LiveFeed)
            for name, value in self._frozen_live.items():
                setattr(feed, name, value)
        if self._frozen_run is not None:
            run_feed = await self.get_state(RunFeed)
            run_feed.run = self._frozen_run
        if self._frozen_dag is not None:
            dag_feed = await self.get_state(DagFeed)
            dag_feed.statuses, dag_feed.blocked = self._frozen_dag
        if self._frozen_jobs is not None:
            jobs_feed = await self.get_state(JobsFeed)
            jobs_feed.updates = self._frozen_jobs

    async def _resume(self) -> Any:
        if signed_in(self) is None:
            return signin_redirect(self)
        run_id = self._followed_run()
        graph_shown = self._frozen_dag is not None
        await join_live(self)
        if run_id is not None:
            await join_run(self, run_id)
        if graph_shown:
            self._frozen_dag = None
            await join_dag(self)
        if is_jobs_path(self.router.url.path):
            await join_jobs(self)
        return None

    async def check_health(self) -> Any:
        """ "Check again" on the alert banner: run the health check now for every viewer."""
        now = time.monotonic()
        if self.checking or now - self._last_check < MIN_POLL_S:
            return
        self._last_check = now
        if signed_in(self) is None:
            yield signin_redirect(self)
            return
        self.checking = True
        yield
        try:
            health = await current_health()
            feed = await self.get_state(LiveFeed)
            feed._apply_health(health)
        finally:
            self.checking = False
        at = time.strftime("%H:%M:%S", time.gmtime())
        self.health_note = (
            f"Checked again at {at} UTC: still degraded."
            if health.degraded
            else f"Checked again at {at} UTC: all is well."
        )

    async def poll(self) -> Any:
        """The page's own refresh: re-read the views from the database (pushes may be down)."""
        now = time.monotonic()
        if self.paused or self.poll_ms <= 0 or now - self._last_poll < MIN_POLL_S:
            return None
        self._last_poll = now
        run_id = self._followed_run()
        # Every open page polls: keep the database reads off the event loop.
        read = await asyncio.to_thread(_poll_read, self.router.headers.cookie, run_id)
        if read is None:
            return signin_redirect(self)
        overview, summary = read
        feed = await self.get_state(LiveFeed)
        feed._apply_overview(overview)
        feed._add_toasts([], time.time())
        if await asyncio.to_thread(_health_due):
            feed._apply_health(await current_health())
        if summary is not None:
            run_feed = await self.get_state(RunFeed)
            run_feed._apply(summary)
        dag_feed = await self.get_state(DagFeed)
        if dag_feed._linked_to:
            dag_feed._apply(*await asyncio.to_thread(read_dag_statuses))
        return None


def _poll_read(
    cookie_header: str, run_id: int | None
) -> tuple[snapshots.Overview, snapshots.RunSummary | None] | None:
    """What a poll shows, or None when the session is gone (blocking: call from a thread)."""
    with session_scope() as session:
        if sessions.authenticate(session, sessions.token_from_cookies(cookie_header)) is None:
            return None
        overview = snapshots.overview(session)
        summary = snapshots.run_summary(session, run_id) if run_id is not None else None
        return overview, summary


class ToastState(rx.State):
    """Which failure toasts this one client closed."""

    dismissed: rx.Field[list[str]] = rx.field(default_factory=list)

    def dismiss(self, toast_id: str) -> None:
        if toast_id not in self.dismissed:
            self.dismissed = [*self.dismissed[-50:], toast_id]
