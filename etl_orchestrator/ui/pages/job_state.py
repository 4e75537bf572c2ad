"""The job page's state (/jobs/<id> and /runs/<id>): the job, its tab, a page of its runs, the
run drawer and the drawer's actions. The views are in job.py and run_drawer.py."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Run
from etl_orchestrator.services.audit_queries import AuditRow, audit_for_run
from etl_orchestrator.services.run_actions import RunActionError
from etl_orchestrator.services.run_queries import UnknownRunError
from etl_orchestrator.ui.components.dag_view import DagState
from etl_orchestrator.ui.components.job_metrics import JobMetricsState
from etl_orchestrator.ui.components.log_view import LogViewState
from etl_orchestrator.ui.state import (
    AuthState,
    RunFeed,
    join_live,
    join_run,
    run_id_of_path,
    signed_in,
    signin_redirect,
)
from etl_orchestrator.web import drawer_actions, job_views, sessions, snapshots
from etl_orchestrator.web.actions import RefusedError

TABS = ("overview", "dag", "runs", "logs", "metrics")
TAB_LABELS = {
    "overview": "Overview",
    "dag": "DAG",
    "runs": "Runs",
    "logs": "Logs",
    "metrics": "Metrics",
}
_JOB_PATH = re.compile(r"^/jobs/([^/?#]{1,384})/?$")
#: The newest page of runs is re-read this often while the Runs tab is shown and live.
RUNS_REFRESH_MS = 5000
#: How many older-page cursors the Runs tab remembers for "Newer" (a bounded stack).
MAX_CURSORS = 200


def event(handler: Any, *args: Any) -> EventSpec:
    """An event with arguments (Reflex types a class-level handler call as the method's own)."""
    spec: EventSpec = handler(*args)
    return spec


def _focus_after_drawer_js(*selectors: str) -> str:
    """Once the drawer is gone, focus the first of `selectors` on the page.

    Radix returns focus only to a Dialog.Trigger, and this drawer is opened from the server.
    """
    targets = json.dumps(list(selectors))
    return (
        "(() => { const t0 = Date.now(); const go = () => {"
        " if (document.getElementById('run-drawer') && Date.now() - t0 < 3000) {"
        " requestAnimationFrame(go); return; }"
        f" const el = {targets}.map((s) => document.querySelector(s)).find((e) => e);"
        " el?.focus(); }; go(); })()"
    )


def _focus_opener_js(run_id: int) -> str:
    """Back to what opened the drawer: its run's row, else the Runs tab."""
    return _focus_after_drawer_js(f"tr[data-run-id='{int(run_id)}'] .etl-run-open", "#tab-runs")


def job_id_of_path(path: str) -> str | None:
    match = _JOB_PATH.match(path)
    return unquote(match.group(1)) if match else None


def job_url(job_id: str, tab: str) -> str:
    return f"/jobs/{quote(job_id, safe='')}?tab={tab}"


class JobPageState(rx.State):
    """The job page and the /runs/<id> page (the same page, with the drawer open on that run)."""

    job: rx.Field[job_views.JobOverview] = rx.field(default_factory=job_views.JobOverview)
    loaded: rx.Field[bool] = rx.field(False)
    #: /runs/<id> for a run that does not exist (or a malformed id).
    run_missing: rx.Field[bool] = rx.field(False)
    tab: rx.Field[str] = rx.field("overview")
    whole_dag: rx.Field[bool] = rx.field(False)
    runs: rx.Field[list[job_views.JobRunRow]] = rx.field(default_factory=list)
    page_no: rx.Field[int] = rx.field(0)
    has_older: rx.Field[bool] = rx.field(False)
    drawer_open: rx.Field[bool] = rx.field(False)
    drawer_run: rx.Field[int] = rx.field(0)
    #: The drawer run's audit entries (who did what to it, and why).
    run_audit: rx.Field[list[AuditRow]] = rx.field(default_factory=list)
    notice: rx.Field[str] = rx.field("")
    notice_ok: rx.Field[bool] = rx.field(False)
    notice_run: rx.Field[int] = rx.field(0)
    #: Cursor (`before`) of each page seen so far; page 0 has none.
    _cursors: list[int] = []
    _next_before: int = 0

    @rx.var
    def run_ids(self) -> list[str]:
        return [str(row.run_id) for row in self.runs]

    def _tab_events(self) -> list[EventSpec]:
        job_id = self.job.job_id
        if not self.job.found:
            return []
        if self.tab == "dag":
            return [event(DagState.load, job_id, self.whole_dag)]
        if self.tab == "logs":
            run_id = self.drawer_run or self.job.previous_run_id
            return [event(LogViewState.follow, run_id)] if run_id else []
        if self.tab == "metrics":
            return [event(JobMetricsState.load, job_id)]
        return []

    def _load_runs(self, before: int | None) -> None:
        with session_scope() as session:
            page = job_views.job_runs(session, self.job.job_id, before=before)
        self.runs = page.rows
        self._next_before = page.next_before or 0
        self.has_older = page.next_before is not None

    def _load_job(self, job_id: str) -> None:
        with session_scope() as session:
            self.job = job_views.job_overview(session, job_id)
        self.page_no, self._cursors = 0, []
        if self.job.found:
            self._load_runs(None)
        else:
            self.runs, self.has_older = [], False

    def _reset(self) -> None:
        self.loaded, self.run_missing, self.drawer_open, self.drawer_run = False, False, False, 0
        self.notice, self.notice_run, self.whole_dag = "", 0, False

    async def load(self) -> Any:
        """on_load of /jobs/<id>: the job, the tab from ?tab=, and a drawer from ?run=."""
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        await join_live(self)
        self._reset()
        job_id = job_id_of_path(self.router.url.path) or ""
        self._load_job(job_id)
        query = self.router.url.query_parameters
        tab = query.get("tab", "overview")
        self.tab = tab if tab in TABS else "overview"
        run = query.get("run", "")
        if self.job.found and run.isdigit():
            await self._open(int(run))
        self.loaded = True
        return self._tab_events()

    async def load_run(self) -> Any:
        """on_load of /runs/<id>: the run's job page on the Runs tab, its drawer open."""
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        await join_live(self)
        self._reset()
        run_id = run_id_of_path(self.router.url.path)
        job_id = None
        if run_id is not None:
            with session_scope() as session:
                run = session.get(Run, run_id)
                job_id = run.job_id if run is not None else None
        if run_id is None or job_id is None:
            self.run_missing, self.job = True, job_views.JobOverview()
            self.loaded = True
            return None
        self._load_job(job_id)
        self.tab = "runs"
        await self._open(run_id)
        self.loaded = True
        return None

    async def _open(self, run_id: int) -> None:
        self.drawer_run, self.drawer_open = run_id, True
        self._load_audit()
        await join_run(self, run_id)

    def _load_audit(self) -> None:
        with session_scope() as session:
            self.run_audit = audit_for_run(session, self.drawer_run)

    async def open_run(self, run_id: int) -> Any:
        """A click on a run row. Reading a run needs only a session (any role may)."""
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        self.notice = ""
        await self._open(int(run_id))
        return None

    def set_drawer_open(self, value: bool) -> Any:
        # Opening goes through open_run (it joins the run's feed); this only closes.
        if value or not self.drawer_open:
            return None
        self.drawer_open = False
        return rx.call_script(_focus_opener_js(self.drawer_run))

    def show_tab(self, tab: str) -> Any:
        if tab not in TABS or not self.job.found:
            return None
        self.tab = tab
        url = json.dumps(job_url(self.job.job_id, tab))
        return [
            rx.call_script(f"window.history.replaceState(window.history.state, '', {url})"),
            *self._tab_events(),
        ]

    def set_whole_dag(self, whole: bool) -> Any:
        self.whole_dag = bool(whole)
        return self._tab_events()

    def logs_of_drawer_run(self) -> Any:
        """ "Logs" in the drawer: close it and follow its run in the Logs tab."""
        self.drawer_open = False
        return [*(self.show_tab("logs") or []), rx.call_script(_focus_after_drawer_js("#tab-logs"))]

    def older(self) -> None:
        if not self.has_older or len(self._cursors) >= MAX_CURSORS:
            return
        self._cursors = [*self._cursors, self._next_before]
        self.page_no = len(self._cursors)
        self._load_runs(self._next_before)

    def newer(self) -> None:
        if not self._cursors:
            return
        self._cursors = self._cursors[:-1]
        self.page_no = len(self._cursors)
        self._load_runs(self._cursors[-1] if self._cursors else None)

    def refresh_runs(self) -> Any:
        """Re-read the page of runs on screen ("Refresh", and every few seconds on page 1)."""
        if not self.job.found:
            return None
        if signed_in(self) is None:
            return signin_redirect(self)
        self._load_runs(self._cursors[-1] if self._cursors else None)
        return None

    def _say(self, text: str, *, ok: bool, run_id: int = 0) -> None:
        self.notice, self.notice_ok, self.notice_run = text, ok, run_id

    async def _act(self, action: str, form: dict[str, Any]) -> Any:
        """Retry or cancel the drawer's run. Any client can send this with any run in the drawer:
        the session and role are checked here against the database, and a refusal audited."""
        run_id, reason = self.drawer_run, str(form.get("reason") or "")
        token = sessions.token_from_cookies(self.router.headers.cookie)
        refused, new_run = "", 0
        try:
            with session_scope() as session:
                who = sessions.authenticate(session, token)
                if who is None:
                    return signin_redirect(self)
                try:
                    if action == "retry":
                        new_run = drawer_actions.retry(
                            session, username=who.username, run_id=run_id, reason=reason
                        )
                    else:
                        drawer_actions.cancel(
                            session, username=who.username, run_id=run_id, reason=reason
                        )
                except RefusedError as error:
                    refused = str(error)  # the refusal's audit row commits with this scope
        except (RunActionError, UnknownRunError) as error:
            self._say(f"Nothing was changed: {error}.", ok=False)
            return None
        self._load_audit()
        if refused:
            self._say(refused, ok=False)
            return None
        feed = await self.get_state(RunFeed)
        with session_scope() as session:
            feed._apply(snapshots.run_summary(session, run_id))
        self.refresh_runs()
        if action == "retry":
            self._say(f"Run {run_id} retried as run {new_run}.", ok=True, run_id=new_run)
        else:
            self._say(f"Run {run_id} cancelled.", ok=True)
        return None

    async def retry(self, form: dict[str, Any]) -> Any:
        return await self._act("retry", form)

    async def cancel(self, form: dict[str, Any]) -> Any:
        return await self._act("cancel", form)
