"""One job (/jobs/<id>): tabs Overview, DAG, Runs, Logs, Metrics, and a run drawer (/runs/<id>).

The tab is in the URL (?tab=runs) so it can be linked; the drawer shows one run live (RunFeed)
with its timeline, attempts and lineage, and, for operators, retry, cancel and rerun.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Run
from etl_orchestrator.services.run_actions import RunActionError
from etl_orchestrator.services.run_queries import UnknownRunError
from etl_orchestrator.ui.components.countdown import countdown
from etl_orchestrator.ui.components.dag_view import DagState, dag_view
from etl_orchestrator.ui.components.job_metrics import JobMetricsState, job_metrics
from etl_orchestrator.ui.components.log_view import LogViewState, log_view
from etl_orchestrator.ui.components.poller import poller
from etl_orchestrator.ui.components.run_modal import RunModalState
from etl_orchestrator.ui.components.status_badge import status_badge
from etl_orchestrator.ui.components.table_section import table_section
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import (
    AuthState,
    LiveControl,
    LiveFeed,
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

#: The run in the drawer. Reflex's stubs type a dataclass field as a sequence; it is an ObjectVar.
RUN: Any = RunFeed.run


def _event(handler: Any, *args: Any) -> EventSpec:
    """An event with arguments (Reflex types a class-level handler call as the method's own)."""
    spec: EventSpec = handler(*args)
    return spec


def _focus_opener_js(run_id: int) -> str:
    """Focus back on what opened the drawer (its run's row, else the Runs tab) once it is gone.

    Radix returns focus only to a Dialog.Trigger, and this drawer is opened from the server.
    """
    target = json.dumps(f"tr[data-run-id='{int(run_id)}'] .etl-run-open")
    return (
        "(() => { const t0 = Date.now(); const go = () => {"
        " if (document.getElementById('run-drawer') && Date.now() - t0 < 3000) {"
        " requestAnimationFrame(go); return; }"
        f" (document.querySelector({target}) || document.getElementById('tab-runs'))?.focus();"
        " }; go(); })()"
    )


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
            return [_event(DagState.load, job_id, self.whole_dag)]
        if self.tab == "logs":
            run_id = self.drawer_run or self.job.previous_run_id
            return [_event(LogViewState.follow, run_id)] if run_id else []
        if self.tab == "metrics":
            return [_event(JobMetricsState.load, job_id)]
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
        await join_run(self, run_id)

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
        return self.show_tab("logs")

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


def _fact(label: str, value: rx.Component | rx.Var[str] | str) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value))


def _scroll_pre(text: Any, label: str, **props: Any) -> rx.Component:
    return rx.box(
        rx.el.pre(text, class_name="etl-pre"),
        class_name="etl-scroll",
        tab_index=0,
        role="region",
        aria_label=label,
        **props,
    )


def _chips(items: Any, empty: str) -> rx.Component:
    return rx.cond(
        items.length() > 0,
        rx.flex(rx.foreach(items, lambda t: rx.code(t)), wrap="wrap", spacing="1"),
        rx.text(empty, as_="span"),
    )


def _param_row(param: Any) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.code(param.name)),
        rx.table.cell(param.type),
        rx.table.cell(rx.cond(param.required, "required", "optional")),
        rx.table.cell(rx.code(param.default)),
        rx.table.cell(param.description),
    )


def _overview() -> rx.Component:
    job: Any = JobPageState.job
    return rx.vstack(
        rx.cond(job.description, rx.text(job.description)),
        rx.data_list.root(
            _fact("Kind", job.kind),
            _fact("Enabled", rx.cond(job.enabled, "yes", "no: it does not run")),
            _fact(
                "Schedule",
                rx.cond(
                    job.cron,
                    rx.text(rx.code(job.cron), " — ", job.cron_text, " (", job.timezone, ")"),
                    job.cron_text,
                ),
            ),
            _fact(
                "Next runs",
                rx.cond(
                    job.next_runs.length() > 0,
                    rx.el.ol(
                        rx.foreach(job.next_runs, lambda t: rx.el.li(timestamp(t))),
                        class_name="etl-plain-list",
                        id="job-next-runs",
                    ),
                    rx.text("none scheduled", as_="span"),
                ),
            ),
            _fact(
                "Previous run",
                rx.cond(
                    job.previous_run_id > 0,
                    rx.hstack(
                        rx.link(f"Run {job.previous_run_id}", href=f"/runs/{job.previous_run_id}"),
                        status_badge(job.previous_run_status),
                        timestamp(job.previous_run_at),
                        spacing="2",
                        wrap="wrap",
                    ),
                    rx.text("never run", as_="span"),
                ),
            ),
            _fact("Retry policy", rx.text(job.retry_text, id="job-retry")),
            _fact("Timeout", job.timeout_text),
            _fact("Upstream wait timeout", job.wait_timeout_text),
            _fact("Reads", _chips(job.reads, "nothing declared")),
            _fact("Writes", _chips(job.writes, "nothing declared")),
            orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
            id="job-facts",
        ),
        rx.cond(
            job.has_params_schema,
            table_section(
                "Parameters",
                ("Name", "Type", "Required", "Default", "Description"),
                job.params,
                _param_row,
                empty="The schema declares no parameters.",
                table_id="job-params",
            ),
            rx.el.section(
                rx.heading("Parameters", as_="h2", size="4"),
                rx.text("This job takes no parameters."),
            ),
        ),
        rx.el.section(
            rx.heading("Configuration", as_="h2", size="4"),
            _scroll_pre(job.config_json, "Job configuration (JSON)", id="job-config"),
        ),
        spacing="4",
        width="100%",
    )


def _run_row(run: Any) -> rx.Component:
    """The row opens the drawer; the run-number button inside makes it keyboard-reachable."""
    return rx.table.row(
        rx.table.row_header_cell(
            rx.button(
                f"#{run.run_id}",
                type="button",
                variant="ghost",
                size="1",
                aria_label=f"Open run {run.run_id}",
                class_name="etl-run-open",
            )
        ),
        rx.table.cell(
            rx.hstack(
                status_badge(run.status),
                rx.cond(run.dry_run, rx.badge("dry run", variant="outline", high_contrast=True)),
                spacing="1",
            )
        ),
        rx.table.cell(run.trigger),
        rx.table.cell(timestamp(run.started_at)),
        rx.table.cell(timestamp(run.ended_at)),
        rx.table.cell(run.duration),
        rx.table.cell(run.attempts),
        rx.table.cell(run.records_read),
        rx.table.cell(run.records_written),
        rx.table.cell(rx.text(run.error_excerpt, size="1")),
        on_click=_event(JobPageState.open_run, run.run_id),
        data_run_id=run.run_id,
        data_status=run.status,
        class_name="etl-clickable",
        cursor="pointer",
    )


def _runs() -> rx.Component:
    return rx.vstack(
        table_section(
            "Runs",
            (
                "Run",
                "Status",
                "Trigger",
                "Started",
                "Ended",
                "Took",
                "Attempts",
                "Read",
                "Written",
                "Error",
            ),
            JobPageState.runs,
            _run_row,
            empty="This job has no runs yet.",
            table_id="job-runs",
        ),
        rx.hstack(
            rx.button(
                "Newer",
                type="button",
                variant="soft",
                disabled=JobPageState.page_no == 0,
                on_click=JobPageState.newer,
                id="runs-newer",
            ),
            rx.text("Page ", JobPageState.page_no + 1, size="2"),
            rx.button(
                "Older",
                type="button",
                variant="soft",
                disabled=~JobPageState.has_older,
                on_click=JobPageState.older,
                id="runs-older",
            ),
            rx.button(
                "Refresh",
                type="button",
                variant="outline",
                on_click=JobPageState.refresh_runs,
                id="runs-refresh",
            ),
            spacing="3",
            align="center",
        ),
        # Mounted with the tab only; older pages hold still while someone reads them.
        poller(
            interval_ms=rx.cond(
                LiveControl.paused | (JobPageState.page_no > 0), 0, RUNS_REFRESH_MS
            ),
            on_tick=JobPageState.refresh_runs,
        ),
        width="100%",
    )


def _summary() -> rx.Component:
    run = RUN
    return rx.data_list.root(
        _fact("Status", rx.hstack(status_badge(run.status), rx.text(run.status_detail, size="2"))),
        _fact("Job", rx.code(run.job_id)),
        _fact("Trigger", rx.text(run.trigger, rx.cond(run.dry_run, " (dry run)", ""))),
        _fact("Attempts", rx.text(run.attempts, " of ", run.max_attempts)),
        _fact("Queued", timestamp(run.queued_at)),
        _fact("Started", timestamp(run.started_at)),
        _fact("Ended", timestamp(run.ended_at)),
        rx.cond(
            run.next_attempt_at & (run.status == "retrying"),
            _fact(
                "Next attempt",
                rx.hstack(
                    timestamp(run.next_attempt_at),
                    rx.el.span(
                        countdown(until=run.next_attempt_at, prefix="in ", done="any moment now"),
                        role="timer",
                        id="run-countdown",
                    ),
                    spacing="2",
                ),
            ),
        ),
        _fact("Took", rx.cond(run.duration, run.duration, "—")),
        orientation="vertical",
        id="run-summary",
    )


def _timeline_item(event: Any) -> rx.Component:
    return rx.el.li(
        rx.hstack(
            timestamp(event.ts),
            status_badge(event.to_status),
            rx.cond(event.attempt > 0, rx.text("attempt ", event.attempt, size="1")),
            rx.cond(event.wait, rx.text(event.wait, size="1", weight="bold")),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
        rx.cond(event.detail, rx.text(event.detail, size="1")),
        data_status=event.to_status,
        class_name="etl-timeline-item",
    )


def _timeline() -> rx.Component:
    return rx.el.section(
        rx.heading("Timeline", as_="h3", size="3"),
        rx.el.ol(rx.foreach(RUN.timeline, _timeline_item), class_name="etl-plain-list"),
        id="run-timeline",
    )


def _attempt(attempt: Any) -> rx.Component:
    return rx.el.li(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.text("Attempt ", attempt.attempt, weight="bold"),
                    status_badge(attempt.outcome),
                    rx.cond(
                        attempt.error_class,
                        rx.badge(
                            attempt.error_class,
                            variant="outline",
                            high_contrast=True,
                            class_name="etl-error-class",
                        ),
                    ),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
                rx.text(
                    timestamp(attempt.started_at),
                    " → ",
                    timestamp(attempt.ended_at),
                    rx.cond(attempt.duration, rx.text(" (", attempt.duration, ")", as_="span")),
                    size="1",
                ),
                rx.cond(
                    attempt.error_message | attempt.error_type,
                    rx.text(attempt.error_type, ": ", attempt.error_message, size="2"),
                ),
                rx.cond(
                    attempt.traceback,
                    rx.el.details(
                        rx.el.summary("Traceback"),
                        _scroll_pre(attempt.traceback, "Traceback"),
                    ),
                ),
                spacing="1",
                align="start",
            ),
            size="1",
        ),
        data_attempt=attempt.attempt,
        data_outcome=attempt.outcome,
        data_error_class=attempt.error_class,
        class_name="etl-attempt",
    )


def _attempts() -> rx.Component:
    return rx.el.section(
        rx.heading("Attempts", as_="h3", size="3"),
        rx.cond(
            RUN.attempt_rows.length() > 0,
            rx.el.ol(rx.foreach(RUN.attempt_rows, _attempt), class_name="etl-plain-list"),
            rx.text("No attempt yet."),
        ),
        id="run-attempts",
    )


def _error() -> rx.Component:
    run = RUN
    return rx.cond(
        run.error_excerpt,
        rx.el.section(
            rx.heading(
                "Error",
                rx.cond(run.error_class, rx.text(" (", run.error_class, ")", as_="span")),
                as_="h3",
                size="3",
            ),
            _scroll_pre(run.error_excerpt, "Error excerpt"),
            id="run-error",
        ),
    )


def _lineage() -> rx.Component:
    run = RUN
    return rx.el.section(
        rx.heading("Lineage", as_="h3", size="3"),
        rx.data_list.root(
            _fact("Records read", run.records_read),
            _fact("Records written", run.records_written),
            _fact("Affected tables", _chips(run.affected_tables, "none")),
            _fact("Checksum", rx.cond(run.checksum, rx.code(run.checksum), "—")),
            _fact("Requested by", run.requested_by),
            _fact("Reason", rx.cond(run.reason, run.reason, "—")),
            rx.cond(
                run.retry_of > 0,
                _fact("Retry of", rx.link(f"Run {run.retry_of}", href=f"/runs/{run.retry_of}")),
            ),
            orientation="vertical",
        ),
        rx.text("Parameters", weight="bold", size="2"),
        _scroll_pre(run.params_json, "Run parameters (JSON)"),
        id="run-lineage",
    )


def _reason_form(action: str, label: str, handler: Any) -> rx.Component:
    field_id = f"run-{action}-reason"
    return rx.form(
        rx.flex(
            rx.vstack(
                rx.el.label("Reason (for the audit)", html_for=field_id, class_name="etl-label"),
                rx.input(id=field_id, name="reason", required=True, width="100%"),
                spacing="1",
                flex_grow="1",
                min_width="10rem",
            ),
            rx.button(label, type="submit", id=f"run-{action}"),
            align="end",
            wrap="wrap",
            spacing="2",
        ),
        on_submit=handler,
        reset_on_submit=True,
    )


def _actions() -> rx.Component:
    run = RUN
    return rx.cond(
        AuthState.can_operate,
        rx.el.section(
            rx.heading("Actions", as_="h3", size="3"),
            rx.vstack(
                rx.cond(run.can_retry, _reason_form("retry", "Retry", JobPageState.retry)),
                rx.cond(run.can_cancel, _reason_form("cancel", "Cancel run", JobPageState.cancel)),
                rx.hstack(
                    rx.button(
                        "Rerun with parameters…",
                        type="button",
                        variant="soft",
                        on_click=_event(RunModalState.show, run.job_id, False, run.run_id),
                        id="run-rerun",
                    ),
                    rx.button(
                        "Rerun as dry-run…",
                        type="button",
                        variant="soft",
                        on_click=_event(RunModalState.show, run.job_id, True, run.run_id),
                        id="run-rerun-dry",
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
                spacing="3",
                width="100%",
            ),
            id="run-actions",
        ),
    )


def _notice() -> rx.Component:
    return rx.cond(
        JobPageState.notice,
        rx.callout.root(
            rx.callout.text(
                JobPageState.notice,
                rx.cond(
                    JobPageState.notice_run > 0,
                    rx.button(
                        "Open run ",
                        JobPageState.notice_run,
                        type="button",
                        variant="ghost",
                        size="1",
                        on_click=_event(JobPageState.open_run, JobPageState.notice_run),
                        margin_left="0.5rem",
                    ),
                ),
            ),
            color_scheme=rx.cond(JobPageState.notice_ok, "grass", "red"),
            high_contrast=True,
            role="status",
            id="run-notice",
        ),
    )


def _drawer_body() -> rx.Component:
    return rx.cond(
        (RUN.run_id == JobPageState.drawer_run) & RUN.found,
        rx.vstack(
            _summary(),
            _notice(),
            _actions(),
            _error(),
            _timeline(),
            _attempts(),
            _lineage(),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            (RUN.run_id == JobPageState.drawer_run) & ~RUN.found,
            rx.text("Run not found: retention may have removed it."),
            rx.text("Loading the run…"),
        ),
    )


def _drawer_live_toggle() -> rx.Component:
    """The frame's pause switch is behind the modal drawer: the drawer has its own."""
    return rx.button(
        rx.icon(rx.cond(LiveControl.paused, "play", "pause"), aria_hidden="true"),
        "Pause live updates",
        type="button",
        size="1",
        variant=rx.cond(LiveControl.paused, "solid", "soft"),
        aria_pressed=rx.cond(LiveControl.paused, "true", "false"),
        on_click=LiveControl.toggle,
        id="run-live-toggle",
    )


def _drawer() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.hstack(
                rx.dialog.title("Run ", JobPageState.drawer_run, margin="0"),
                rx.spacer(),
                _drawer_live_toggle(),
                rx.button(
                    "Logs",
                    type="button",
                    variant="soft",
                    size="1",
                    on_click=JobPageState.logs_of_drawer_run,
                    id="run-logs",
                ),
                rx.dialog.close(
                    rx.button("Close", type="button", variant="soft", size="1", id="run-close")
                ),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.dialog.description(
                "Run of ", rx.code(RUN.job_id), ", live while it is active.", size="2"
            ),
            rx.el.div(
                RunFeed.announcement,
                role="status",
                aria_live="polite",
                class_name="etl-visually-hidden",
            ),
            _drawer_body(),
            id="run-drawer",
            aria_label="Run detail",
            style={
                "position": "fixed",
                "top": "0",
                "right": "0",
                "height": "100dvh",
                "max_height": "100dvh",
                "width": "min(44rem, 100vw)",
                "max_width": "100vw",
                "border_radius": "0",
                "overflow_y": "auto",
            },
        ),
        open=JobPageState.drawer_open,
        on_open_change=JobPageState.set_drawer_open,
    )


def _job_not_found() -> rx.Component:
    return rx.vstack(
        rx.heading("Job not found", as_="h1", size="6"),
        rx.text(
            "There is no job with this id: check the spelling, or it was never declared. ",
            rx.link("Back to the jobs", href="/jobs"),
        ),
        id="job-not-found",
    )


def _run_not_found() -> rx.Component:
    return rx.vstack(
        rx.heading("Run not found", as_="h1", size="6"),
        rx.text(
            "There is no run with this number: it never existed, or retention removed it. ",
            rx.link("Back to the overview", href="/"),
        ),
    )


def _tabs() -> rx.Component:
    return rx.tabs.root(
        rx.tabs.list(
            *(rx.tabs.trigger(TAB_LABELS[t], value=t, id=f"tab-{t}") for t in TABS),
            aria_label="Job sections",
            wrap="wrap",
        ),
        rx.tabs.content(_overview(), value="overview", padding_top="1rem"),
        rx.tabs.content(
            rx.vstack(
                rx.hstack(
                    rx.switch(
                        checked=JobPageState.whole_dag,
                        on_change=JobPageState.set_whole_dag,
                        id="dag-whole",
                    ),
                    rx.el.label("Show the whole pipeline", html_for="dag-whole"),
                    align="center",
                    spacing="2",
                ),
                dag_view(),
                width="100%",
            ),
            value="dag",
            padding_top="1rem",
        ),
        rx.tabs.content(_runs(), value="runs", padding_top="1rem"),
        rx.tabs.content(log_view(), value="logs", padding_top="1rem"),
        rx.tabs.content(job_metrics(), value="metrics", padding_top="1rem"),
        value=JobPageState.tab,
        on_change=JobPageState.show_tab,
        width="100%",
    )


def _job() -> rx.Component:
    job: Any = JobPageState.job
    return rx.vstack(
        rx.hstack(
            rx.heading(job.name, as_="h1", size="6"),
            rx.code(job.job_id),
            rx.cond(~job.enabled, rx.badge("disabled", variant="outline", high_contrast=True)),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.cond(
            AuthState.can_operate,
            rx.hstack(
                rx.button(
                    "Run…",
                    type="button",
                    on_click=_event(RunModalState.show, job.job_id, False, 0),
                    id="job-run",
                ),
                rx.button(
                    "Dry-run…",
                    type="button",
                    variant="soft",
                    on_click=_event(RunModalState.show, job.job_id, True, 0),
                    id="job-dry-run",
                ),
                spacing="2",
            ),
        ),
        _tabs(),
        _drawer(),
        spacing="4",
        width="100%",
        id="job-page",
    )


def page() -> rx.Component:
    return frame(
        rx.cond(
            JobPageState.run_missing,
            _run_not_found(),
            rx.cond(
                JobPageState.loaded,
                rx.cond(JobPageState.job.found, _job(), _job_not_found()),  # type: ignore[attr-defined]
                rx.heading("Loading…", as_="h1", size="6"),
            ),
        ),
        announce=rx.cond(JobPageState.drawer_open, RunFeed.announcement, LiveFeed.announcement),
        in_view=lambda run_id: (
            JobPageState.run_ids.contains(run_id) | (run_id == RUN.run_id.to_string())
        ),
    )
