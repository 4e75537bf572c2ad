"""The jobs table (/jobs): keyset pages sorted and filtered from the URL, badges, row and bulk
actions, updated live as runs start and end."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from etl_orchestrator.config import get_settings
from etl_orchestrator.db import session_scope
from etl_orchestrator.services import bulk_actions, job_queries
from etl_orchestrator.services.bulk_actions import BulkError
from etl_orchestrator.ui.components.poller import poller
from etl_orchestrator.ui.components.run_modal import RunModalState
from etl_orchestrator.ui.components.status_badge import status_badge
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import (
    AuthState,
    JobsFeed,
    LiveControl,
    LiveFeed,
    join_jobs,
    join_live,
    signin_redirect,
)
from etl_orchestrator.web import sessions
from etl_orchestrator.web.actions import allows
from etl_orchestrator.web.jobs_view import (
    JobsQuery,
    JobTableRow,
    now_ms,
    parse_query,
    table_row,
)

#: Errors that mean the database is not answering (not a bug to hide behind a message).
DB_DOWN = (OperationalError, InterfaceError, PoolTimeoutError, OSError)
DB_DOWN_TEXT = (
    "The database is not answering, so the jobs cannot be listed. Nothing was changed. "
    "Try again in a moment; if it persists, check that the database server is running."
)
#: Sortable columns: (sort key, header text).
SORTABLE = {
    "job_id": "Job id",
    "name": "Name",
    "next_run_at": "Next run",
    "last_run_status": "Last run",
    "last_run_duration_s": "Took",
    "priority": "Priority",
}
MIN_POLL_S = 1.0
#: Filter choices change rarely; reading them at 100,000 jobs is not free.
CHOICES_TTL_S = 60.0
_choices_cache: dict[str, tuple[float, tuple[list[str], list[str]]]] = {}


@dataclass
class _Window:
    rows: list[JobTableRow] = field(default_factory=list)
    next_cursor: str = ""
    prev_cursor: str = ""
    problem: str = ""
    domains: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _choices() -> tuple[list[str], list[str]]:
    with session_scope() as session:
        # The number of jobs is cheap to read (an index-only count) and changes when jobs are
        # declared or removed, so new tags and domains show at once, not only after the TTL.
        key = f"{get_settings().database_url}#{job_queries.job_count(session)}"
        cached = _choices_cache.get(key)
        if cached and time.monotonic() - cached[0] < CHOICES_TTL_S:
            return cached[1]
        found = job_queries.filter_choices(session)
    _choices_cache.clear()
    _choices_cache[key] = (time.monotonic(), found)
    return found


def read_window(query: JobsQuery, *, choices: bool = True) -> _Window:
    """The page of jobs the view asks for, with each row's activity, and the filters' choices
    unless `choices` is False (blocking: use a thread)."""
    window = _Window()
    with session_scope() as session:
        try:
            page = job_queries.list_jobs(session, **query.list_options(), with_activity=True)
        except ValueError:
            window.problem = "the page link is invalid or out of date, so the first page is shown"
            first = query.first_page().list_options()
            page = job_queries.list_jobs(session, **first, with_activity=True)
    window.rows = [table_row(row, page.activity.get(row.job_id)) for row in page.jobs]
    window.next_cursor = page.next_cursor or ""
    window.prev_cursor = page.prev_cursor or ""
    if choices:
        window.domains, window.tags = _choices()
    return window


def _username(cookie_header: str) -> str | None:
    with session_scope() as session:
        who = sessions.authenticate(session, sessions.token_from_cookies(cookie_header))
        return who.username if who else None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def scheduler_problem(problems: Sequence[str]) -> str:
    """The health check's line about the scheduler, if it has one ("" when it is fine)."""
    return next((p for p in problems if "scheduler" in p.lower()), "")


class JobsState(rx.State):
    rows: rx.Field[list[JobTableRow]] = rx.field(default_factory=list)
    sort: rx.Field[str] = rx.field("job_id")
    descending: rx.Field[bool] = rx.field(False)
    enabled_filter: rx.Field[str] = rx.field("")
    outcome_filter: rx.Field[str] = rx.field("")
    tag_filter: rx.Field[str] = rx.field("")
    domain_filter: rx.Field[str] = rx.field("")
    search: rx.Field[str] = rx.field("")
    filtered: rx.Field[bool] = rx.field(False)
    next_cursor: rx.Field[str] = rx.field("")
    prev_cursor: rx.Field[str] = rx.field("")
    #: When the rows were read (epoch ms): live updates older than this are not overlaid.
    read_at: rx.Field[int] = rx.field(0)
    domains: rx.Field[list[str]] = rx.field(default_factory=list)
    tags: rx.Field[list[str]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    db_error: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")
    notice_ok: rx.Field[bool] = rx.field(False)
    scheduler_note: rx.Field[str] = rx.field("")
    #: For display only: the handlers and services check the role again.
    is_admin: rx.Field[bool] = rx.field(False)
    selected: rx.Field[list[str]] = rx.field(default_factory=list)
    reason: rx.Field[str] = rx.field("")
    #: The last bulk action's result per job: job_id, outcome (ok|refused|error), message.
    results: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    results_title: rx.Field[str] = rx.field("")
    toggle_open: rx.Field[bool] = rx.field(False)
    toggle_job: rx.Field[str] = rx.field("")
    toggle_enable: rx.Field[bool] = rx.field(False)
    _query: JobsQuery = JobsQuery()
    _last_poll: float = 0.0
    #: Linked to the live feeds (the page load got that far).
    _linked: bool = False

    @rx.var
    def all_selected(self) -> bool:
        ids = {row.job_id for row in self.rows}
        return bool(ids) and ids <= set(self.selected)

    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        feed = await self.get_state(LiveFeed)
        jobs_feed = await self.get_state(JobsFeed)
        # Paging, sorting and filtering load this page again: while it stays linked to the live
        # feeds (not paused), only the session is checked again, which keeps page changes fast.
        staying = bool(self._linked and feed._linked_to and jobs_feed._linked_to)
        try:
            who = auth._refresh()
            if who is None:
                return signin_redirect(self)
            if not staying:
                feed = await join_live(self)
        except DB_DOWN:
            self.db_error, self.loaded = DB_DOWN_TEXT, True
            return None
        if not staying:
            await join_jobs(self)
            self._linked = True
        await self._open(who.role, feed.health_problems)
        return None

    async def _open(self, role: str, health_problems: Sequence[str]) -> None:
        """Show the view the URL asks for (the page load, once linked to the live feeds)."""
        self.scheduler_note = scheduler_problem(health_problems)
        self.is_admin = allows(role, bulk_actions.ADMIN)
        query, problems = parse_query(self.router.url.query)
        self._show_query(query)
        self.selected = []
        self.notice = _sentence("; ".join(problems)) if problems else ""
        self.notice_ok = False
        await self._read()

    def _show_query(self, query: JobsQuery) -> None:
        self._query = query
        self.sort, self.descending = query.sort, query.descending
        self.enabled_filter, self.outcome_filter = query.enabled, query.outcome
        self.tag_filter, self.domain_filter = query.tag, query.domain
        self.search, self.filtered = query.search, query.filtered

    async def _read(self, *, choices: bool = True) -> None:
        """Read the view's window; `choices=False` keeps the filters' choices as they are."""
        at = now_ms()
        try:
            window = await asyncio.to_thread(read_window, self._query, choices=choices)
        except DB_DOWN:
            self.db_error, self.loaded = DB_DOWN_TEXT, True
            return
        self.db_error = ""
        self.rows, self.read_at = window.rows, at
        self.next_cursor, self.prev_cursor = window.next_cursor, window.prev_cursor
        if choices and (self.domains, self.tags) != (window.domains, window.tags):
            self.domains, self.tags = window.domains, window.tags
        if window.problem:
            said = self.notice.rstrip(".") + "; " if self.notice else ""
            self.notice, self.notice_ok = _sentence(f"{said}{window.problem}"), False
        self.loaded = True

    async def retry(self) -> EventSpec | None:
        """The Retry control of "database unavailable": read the view again (the whole page
        load when the database was down before it could start)."""
        if not self._linked:
            return await self.load()
        await self._read()
        return None

    async def poll(self) -> None:
        """The table's own refresh (pushed updates may stop): re-read the window."""
        now = time.monotonic()
        control = await self.get_state(LiveControl)
        if control.paused or now - self._last_poll < MIN_POLL_S or not self.read_at:
            return
        self._last_poll = now
        feed = await self.get_state(LiveFeed)
        self.scheduler_note = scheduler_problem(feed.health_problems)
        await self._read()

    async def _go(self, query: JobsQuery, *, replace: bool = False) -> EventSpec:
        """Show `query` now and put its URL in the address bar.

        The rows are read in this event and the URL is written with the History API rather
        than a router navigation (which would load the page again: a second round trip).
        Back and forward are router navigations, so they load the view their URL says.
        """
        self._show_query(query)
        self.selected = []
        self.notice = ""
        # The filters' choices do not change with the page, order or filter: the page load and
        # the polls keep them fresh, so a page change does not pay for reading them.
        await self._read(choices=False)
        method = "replaceState" if replace else "pushState"
        return rx.call_script(f"window.history.{method}(null, '', {json.dumps(query.url())})")

    async def sort_by(self, key: str) -> EventSpec | None:
        if key not in SORTABLE:
            return None
        descending = not self._query.descending if key == self._query.sort else False
        return await self._go(self._query.first_page(sort=key, descending=descending))

    async def filter_enabled(self, value: str) -> EventSpec:
        return await self._go(
            self._query.first_page(enabled=value if value in ("yes", "no") else "")
        )

    async def filter_outcome(self, value: str) -> EventSpec:
        known = value in job_queries.OUTCOMES
        return await self._go(self._query.first_page(outcome=value if known else ""))

    async def filter_tag(self, value: str) -> EventSpec:
        return await self._go(self._query.first_page(tag=str(value)[:128]))

    async def filter_domain(self, value: str) -> EventSpec:
        return await self._go(self._query.first_page(domain=str(value)[:128]))

    async def search_for(self, value: str) -> EventSpec | None:
        text = str(value).strip()[:128]
        if text == self._query.search:
            return None
        # The first search adds a history entry; refining it (each pause in typing) replaces it.
        return await self._go(self._query.first_page(search=text), replace=bool(self._query.search))

    async def clear_filters(self) -> EventSpec:
        q = self._query
        return await self._go(JobsQuery(sort=q.sort, descending=q.descending, size=q.size))

    async def next_page(self) -> EventSpec | None:
        if not self.next_cursor:
            return None
        return await self._go(self._query.first_page(after=self.next_cursor))

    async def prev_page(self) -> EventSpec | None:
        if not self.prev_cursor:
            return None
        return await self._go(self._query.first_page(before=self.prev_cursor))

    def toggle_select(self, job_id: str, checked: bool) -> None:
        rest = [j for j in self.selected if j != job_id]
        in_page = any(row.job_id == job_id for row in self.rows)
        self.selected = [*rest, job_id] if checked and in_page else rest

    def toggle_all(self, checked: bool) -> None:
        self.selected = [row.job_id for row in self.rows] if checked else []

    def set_reason(self, value: str) -> None:
        self.reason = str(value)[:1000]

    async def bulk(self, action: str) -> EventSpec | None:
        """Run, dry-run, enable or disable the selected jobs. Any client can send this with any
        arguments: the service reads the role from the database and audits a refusal."""
        return await self._apply(action, list(self.selected), self.reason)

    async def _apply(self, action: str, job_ids: list[str], reason: str) -> EventSpec | None:
        try:
            username = await asyncio.to_thread(_username, self.router.headers.cookie)
            if username is None:
                return signin_redirect(self)
            results = await asyncio.to_thread(
                bulk_actions.apply,
                username=username,
                action=action,
                job_ids=job_ids,
                reason=reason,
            )
        except BulkError as error:
            self.notice, self.notice_ok = str(error), False
            return None
        except DB_DOWN:
            self.notice, self.notice_ok = DB_DOWN_TEXT, False
            return None
        self.results = [
            {"job_id": r.job_id, "outcome": r.outcome, "message": r.message} for r in results
        ]
        done = sum(r.outcome == "ok" for r in results)
        label = action.replace("_", "-")
        self.results_title = f"{label.capitalize()}: {done} of {len(results)} done"
        self.notice = self.results_title + (
            "." if done == len(results) else "; see each job's result below."
        )
        self.notice_ok = done == len(results)
        if done:
            self.selected, self.reason = [], ""
        await self._read()
        return None

    def ask_toggle(self, job_id: str, enable: bool) -> None:
        """Open the reason dialog of a row's Enable/Disable (the change itself checks the role)."""
        self.toggle_job, self.toggle_enable, self.toggle_open = str(job_id), bool(enable), True

    def set_toggle_open(self, value: bool) -> None:
        self.toggle_open = value

    async def confirm_toggle(self, form: dict[str, Any]) -> EventSpec | None:
        self.toggle_open = False
        action = "enable" if self.toggle_enable else "disable"
        return await self._apply(action, [self.toggle_job], str(form.get("reason") or ""))


def _event(handler: Any, *args: Any) -> Any:
    """`handler` called with these (Var) arguments: an EventSpec. Reflex's stubs type event
    handlers as plain methods, which cannot take Vars."""
    return handler(*args)


def _live(row: Any, key: str, fallback: Any) -> Any:
    """A row's field, or the newer value a live update brought (see JobsFeed)."""
    entry = JobsFeed.updates[row.job_id]
    fresh = JobsFeed.updates.contains(row.job_id) & (entry["at"].to(int) > JobsState.read_at)
    return rx.cond(fresh, entry[key], fallback)


def _icon_text(icon: str, text: Any, **props: Any) -> rx.Component:
    return rx.hstack(
        rx.icon(icon, size=14, aria_hidden="true"),
        rx.text(text, as_="span"),
        spacing="1",
        align="center",
        **props,
    )


def _last_run(row: Any) -> rx.Component:
    status = _live(row, "status", row.last_status)
    active = _live(row, "active", row.active)
    return rx.vstack(
        rx.cond(status, status_badge(status), rx.text("never run", size="1", as_="span")),
        rx.cond(
            _live(row, "duration", row.last_duration),
            rx.text(_live(row, "duration", row.last_duration), size="1", as_="span"),
        ),
        rx.cond(
            active,
            rx.hstack(rx.text("now:", size="1", as_="span"), status_badge(active), spacing="1"),
        ),
        spacing="1",
        align="start",
        class_name="etl-job-last",
        data_status=status,
        data_active=active,
    )


def _badges(row: Any) -> rx.Component:
    transient = _live(row, "transient", row.transient)
    backoff = _live(row, "backoff", rx.cond(row.backoff, "yes", ""))
    return rx.flex(
        rx.cond(
            transient,
            rx.badge(
                rx.icon("zap", size=12, aria_hidden="true"),
                "24 h transient failures: ",
                transient,
                color_scheme="amber",
                variant="soft",
                high_contrast=True,
                class_name="etl-badge-transient",
            ),
        ),
        rx.cond(
            backoff,
            rx.badge(
                rx.icon("timer", size=12, aria_hidden="true"),
                "backoff active",
                color_scheme="orange",
                variant="soft",
                high_contrast=True,
                class_name="etl-badge-backoff",
            ),
        ),
        rx.cond(
            row.parameterized,
            rx.badge(
                rx.icon("sliders_horizontal", size=12, aria_hidden="true"),
                "parameterized",
                variant="outline",
                high_contrast=True,
                class_name="etl-badge-params",
            ),
        ),
        gap="1",
        wrap="wrap",
    )


def _actions(row: Any) -> rx.Component:
    return rx.flex(
        rx.cond(
            AuthState.can_operate,
            rx.fragment(
                rx.button(
                    "Run",
                    type="button",
                    size="1",
                    aria_label="Run " + row.job_id,
                    on_click=_event(RunModalState.show, row.job_id, False, 0),
                    class_name="etl-act-run",
                ),
                rx.button(
                    "Dry-run",
                    type="button",
                    size="1",
                    variant="soft",
                    aria_label="Dry-run " + row.job_id,
                    on_click=_event(RunModalState.show, row.job_id, True, 0),
                    class_name="etl-act-dry",
                ),
            ),
        ),
        rx.link(
            "Details",
            href="/jobs/" + row.job_id,
            size="2",
            aria_label="View details of " + row.job_id,
        ),
        rx.cond(
            JobsState.is_admin,
            rx.button(
                rx.cond(row.enabled, "Disable", "Enable"),
                type="button",
                size="1",
                variant="outline",
                aria_label=rx.cond(row.enabled, "Disable ", "Enable ") + row.job_id,
                on_click=_event(JobsState.ask_toggle, row.job_id, ~row.enabled),
                class_name="etl-act-toggle",
            ),
        ),
        gap="2",
        align="center",
        wrap="wrap",
    )


def _row(row: Any) -> rx.Component:
    """`row` is the ObjectVar of one JobTableRow in a foreach."""
    return rx.table.row(
        rx.cond(
            AuthState.can_operate,
            rx.table.cell(
                rx.checkbox(
                    checked=JobsState.selected.contains(row.job_id),
                    on_change=lambda checked: _event(JobsState.toggle_select, row.job_id, checked),
                    aria_label="Select " + row.job_id,
                ),
            ),
        ),
        rx.table.row_header_cell(rx.code(row.job_id, variant="ghost")),
        rx.table.cell(row.name),
        rx.table.cell(
            rx.cond(
                row.enabled,
                _icon_text("circle_check", "enabled"),
                _icon_text("circle_slash", "disabled"),
            )
        ),
        rx.table.cell(
            rx.cond(
                row.cron,
                rx.vstack(
                    rx.text(row.cron_text, size="1", as_="span"),
                    rx.text(rx.code(row.cron), " ", row.timezone, size="1", as_="span"),
                    spacing="0",
                ),
                rx.text("manual only", size="1", as_="span"),
            )
        ),
        rx.table.cell(timestamp(row.next_run_at)),
        rx.table.cell(_last_run(row)),
        rx.table.cell(row.dependencies),
        rx.table.cell(row.priority),
        rx.table.cell(
            rx.flex(
                rx.foreach(row.tags, lambda t: rx.badge(t, variant="surface", high_contrast=True)),
                rx.cond(
                    row.domain,
                    rx.text("domain: ", row.domain, size="1", as_="span"),
                ),
                gap="1",
                wrap="wrap",
            )
        ),
        rx.table.cell(_badges(row)),
        rx.table.cell(_actions(row)),
        data_job_id=row.job_id,
        class_name="etl-job-row",
    )


def _sort_header(key: str, label: str) -> rx.Component:
    active = JobsState.sort == key
    return rx.table.column_header_cell(
        _sort_button(key, label),
        aria_sort=rx.cond(active, rx.cond(JobsState.descending, "descending", "ascending"), "none"),
    )


def _header() -> rx.Component:
    plain = rx.table.column_header_cell
    return rx.table.header(
        rx.table.row(
            rx.cond(
                AuthState.can_operate,
                plain(
                    rx.checkbox(
                        checked=JobsState.all_selected,
                        on_change=JobsState.toggle_all,
                        aria_label="Select every job on this page",
                        id="select-page",
                    )
                ),
            ),
            _sort_header("job_id", "Job id"),
            _sort_header("name", "Name"),
            plain("Enabled"),
            plain("Schedule"),
            _sort_header("next_run_at", "Next run"),
            rx.table.column_header_cell(
                rx.flex(
                    _sort_button("last_run_status", "Last run"),
                    rx.text("·", as_="span", aria_hidden="true"),
                    _sort_button("last_run_duration_s", "Took"),
                    gap="2",
                    align="center",
                    wrap="wrap",
                ),
                aria_sort=rx.cond(
                    (JobsState.sort == "last_run_status")
                    | (JobsState.sort == "last_run_duration_s"),
                    rx.cond(JobsState.descending, "descending", "ascending"),
                    "none",
                ),
            ),
            plain("Dependencies"),
            _sort_header("priority", "Priority"),
            plain("Tags"),
            plain("Badges"),
            plain("Actions"),
        )
    )


def _sort_button(key: str, label: str) -> rx.Component:
    active = JobsState.sort == key
    return rx.button(
        label,
        rx.cond(active, rx.cond(JobsState.descending, " ↓", " ↑"), ""),
        type="button",
        variant="ghost",
        size="1",
        on_click=_event(JobsState.sort_by, key),
        aria_label=rx.cond(
            active,
            rx.cond(
                JobsState.descending,
                f"{label}, sorted descending; sort ascending",
                f"{label}, sorted ascending; sort descending",
            ),
            f"Sort by {label}",
        ),
        id=f"sort-{key}",
    )


def _select(
    label: str,
    select_id: str,
    value: Any,
    handler: Any,
    options: list[tuple[str, str]],
    more: Any = None,
) -> rx.Component:
    """A labelled native select: fixed (value, text) options, then the values of `more`."""
    extra = rx.foreach(more, lambda o: rx.el.option(o, value=o)) if more is not None else None
    return rx.vstack(
        rx.el.label(label, html_for=select_id, class_name="etl-label"),
        rx.el.select(
            *(rx.el.option(text, value=v) for v, text in options),
            *([extra] if extra is not None else []),
            id=select_id,
            value=value,
            on_change=handler,
            class_name="etl-select",
        ),
        spacing="1",
    )


def _filters() -> rx.Component:
    return rx.el.section(
        rx.heading("Find jobs", as_="h2", size="3", class_name="etl-visually-hidden"),
        rx.flex(
            rx.vstack(
                rx.el.label("Search id or name", html_for="jobs-search", class_name="etl-label"),
                rx.input(
                    id="jobs-search",
                    value=JobsState.search,
                    on_change=JobsState.search_for,
                    debounce_timeout=400,
                    type="search",
                    placeholder="e.g. sales",
                ),
                spacing="1",
            ),
            _select(
                "Enabled",
                "filter-enabled",
                JobsState.enabled_filter,
                JobsState.filter_enabled,
                [("", "All"), ("yes", "Enabled"), ("no", "Disabled")],
            ),
            _select(
                "Last outcome",
                "filter-outcome",
                JobsState.outcome_filter,
                JobsState.filter_outcome,
                [("", "Any"), ("success", "Succeeded"), ("fail", "Failed")],
            ),
            _select(
                "Tag",
                "filter-tag",
                JobsState.tag_filter,
                JobsState.filter_tag,
                [("", "Any tag")],
                JobsState.tags,
            ),
            _select(
                "Data domain",
                "filter-domain",
                JobsState.domain_filter,
                JobsState.filter_domain,
                [("", "Any domain")],
                JobsState.domains,
            ),
            rx.cond(
                JobsState.filtered,
                rx.button(
                    "Clear filters",
                    type="button",
                    variant="soft",
                    on_click=JobsState.clear_filters,
                    id="clear-filters",
                ),
            ),
            gap="3",
            wrap="wrap",
            align="end",
        ),
        aria_label="Filters",
        id="jobs-filters",
    )


def _bulk_bar() -> rx.Component:
    def action(label: str, key: str, **props: Any) -> rx.Component:
        return rx.button(
            label,
            type="button",
            size="2",
            disabled=JobsState.selected.length() == 0,
            on_click=_event(JobsState.bulk, key),
            id=f"bulk-{key.replace('_', '-')}",
            **props,
        )

    return rx.el.section(
        rx.heading("Selected jobs", as_="h2", size="3"),
        rx.flex(
            rx.text(JobsState.selected.length(), " selected", id="bulk-count", size="2"),
            rx.vstack(
                rx.el.label(
                    "Reason (for the audit, one for the batch)",
                    html_for="bulk-reason",
                    class_name="etl-label",
                ),
                rx.input(
                    id="bulk-reason",
                    value=JobsState.reason,
                    on_change=JobsState.set_reason,
                    min_width="14rem",
                ),
                spacing="1",
            ),
            action("Run", "run"),
            action("Dry-run", "dry_run", variant="soft"),
            rx.cond(
                JobsState.is_admin,
                rx.fragment(
                    action("Enable", "enable", variant="outline"),
                    action("Disable", "disable", variant="outline"),
                ),
            ),
            gap="3",
            wrap="wrap",
            align="end",
        ),
        class_name="etl-panel",
        id="bulk-actions",
    )


def _result(item: Any) -> rx.Component:
    return rx.el.li(
        rx.hstack(
            rx.match(
                item["outcome"],
                ("ok", rx.icon("circle_check", size=14, aria_hidden="true")),
                ("refused", rx.icon("ban", size=14, aria_hidden="true")),
                rx.icon("circle_x", size=14, aria_hidden="true"),
            ),
            rx.code(item["job_id"]),
            rx.text(item["outcome"], weight="bold", as_="span"),
            rx.text(item["message"], as_="span"),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        data_job_id=item["job_id"],
        data_outcome=item["outcome"],
    )


def _results() -> rx.Component:
    return rx.cond(
        JobsState.results.length() > 0,
        rx.el.section(
            rx.heading(JobsState.results_title, as_="h2", size="3"),
            rx.el.ul(rx.foreach(JobsState.results, _result), class_name="etl-problems"),
            id="bulk-results",
            aria_live="polite",
        ),
    )


def _messages() -> rx.Component:
    return rx.fragment(
        rx.cond(
            JobsState.db_error,
            rx.callout.root(
                rx.callout.icon(rx.icon("database", aria_hidden="true")),
                rx.box(
                    rx.callout.text(JobsState.db_error),
                    rx.button(
                        rx.icon("refresh_cw", aria_hidden="true"),
                        "Retry",
                        type="button",
                        size="1",
                        variant="outline",
                        color_scheme="gray",
                        high_contrast=True,
                        on_click=JobsState.retry,
                        id="jobs-retry",
                        margin_top="0.5rem",
                    ),
                ),
                color_scheme="red",
                high_contrast=True,
                role="alert",
                id="jobs-db-error",
            ),
        ),
        rx.cond(
            JobsState.scheduler_note,
            rx.callout.root(
                rx.callout.icon(rx.icon("clock_alert", aria_hidden="true")),
                rx.callout.text(
                    "The scheduler is offline: no cron run starts and queued runs wait until it "
                    "is back, so next-run times may pass. ",
                    JobsState.scheduler_note,
                ),
                color_scheme="amber",
                high_contrast=True,
                role="status",
                id="jobs-scheduler",
            ),
        ),
        rx.cond(
            JobsState.notice,
            rx.callout.root(
                rx.callout.text(JobsState.notice),
                color_scheme=rx.cond(JobsState.notice_ok, "grass", "red"),
                high_contrast=True,
                role="status",
                id="jobs-notice",
            ),
        ),
    )


def _pager() -> rx.Component:
    return rx.flex(
        rx.button(
            rx.icon("chevron_left", aria_hidden="true"),
            "Previous page",
            type="button",
            variant="soft",
            disabled=JobsState.prev_cursor == "",
            on_click=JobsState.prev_page,
            id="jobs-prev",
        ),
        rx.button(
            "Next page",
            rx.icon("chevron_right", aria_hidden="true"),
            type="button",
            variant="soft",
            disabled=JobsState.next_cursor == "",
            on_click=JobsState.next_page,
            id="jobs-next",
        ),
        gap="3",
        aria_label="Pages",
        as_="nav",
    )


def _empty() -> rx.Component:
    return rx.vstack(
        rx.cond(
            JobsState.filtered,
            rx.fragment(
                rx.text("No job matches these filters.", id="jobs-empty"),
                rx.button(
                    "Clear filters",
                    type="button",
                    on_click=JobsState.clear_filters,
                    id="jobs-empty-clear",
                ),
            ),
            rx.text(
                "No jobs yet: declare jobs in code and run ",
                rx.code("etl-orchestrator jobs sync"),
                ".",
                id="jobs-empty",
            ),
        ),
        align="start",
        spacing="2",
    )


def _table() -> rx.Component:
    return rx.cond(
        JobsState.rows.length() > 0,
        rx.box(
            rx.table.root(
                _header(),
                rx.table.body(rx.foreach(JobsState.rows, _row)),
                size="1",
                variant="surface",
                id="jobs-table",
            ),
            class_name="etl-scroll",
            tab_index=0,
            role="region",
            aria_label="Jobs",
        ),
        rx.cond(JobsState.loaded & ~JobsState.db_error, _empty()),
    )


def _toggle_dialog() -> rx.Component:
    word = rx.cond(JobsState.toggle_enable, "Enable", "Disable")
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(word, " ", JobsState.toggle_job),
            rx.dialog.description(
                "Say why, for the audit. ",
                rx.cond(
                    JobsState.toggle_enable,
                    "Its schedule resumes from the next tick.",
                    "No new run starts until an admin enables it again.",
                ),
            ),
            rx.form(
                rx.vstack(
                    rx.el.label("Reason", html_for="toggle-reason", class_name="etl-label"),
                    rx.input(id="toggle-reason", name="reason", required=True, width="100%"),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", type="button", variant="soft", color_scheme="gray")
                        ),
                        rx.button(word, type="submit", id="toggle-confirm"),
                        justify="end",
                        spacing="2",
                        width="100%",
                    ),
                    spacing="2",
                ),
                on_submit=JobsState.confirm_toggle,
                reset_on_submit=True,
            ),
            id="toggle-dialog",
        ),
        open=JobsState.toggle_open,
        on_open_change=JobsState.set_toggle_open,
    )


def page() -> rx.Component:
    return frame(
        rx.vstack(
            rx.heading("Jobs", as_="h1", size="6"),
            _messages(),
            _filters(),
            rx.cond(AuthState.can_operate, _bulk_bar()),
            _results(),
            _table(),
            _pager(),
            spacing="4",
            width="100%",
        ),
        _toggle_dialog(),
        poller(
            interval_ms=rx.cond(LiveControl.paused, 0, LiveControl.poll_ms),
            on_tick=JobsState.poll,
        ),
    )
