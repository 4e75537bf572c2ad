"""Overview (/): runs by status over the last 24 h, the latest runs, and "Run now" for operators."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.db import session_scope
from etl_orchestrator.services.runs import TriggerError
from etl_orchestrator.ui.components.run_modal import RunModalState
from etl_orchestrator.ui.components.status_badge import status_badge
from etl_orchestrator.ui.components.table_section import table_section
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import AuthState, LiveFeed, join_live, signin_redirect
from etl_orchestrator.web import actions, sessions, snapshots


class OverviewState(rx.State):
    jobs: rx.Field[list[str]] = rx.field(default_factory=list)
    notice: rx.Field[str] = rx.field("")
    notice_ok: rx.Field[bool] = rx.field(False)
    new_run_id: rx.Field[int] = rx.field(0)
    #: The job chosen in the Run now form, for "Run with options…".
    selected: rx.Field[str] = rx.field("")

    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        await join_live(self)
        with session_scope() as session:
            self.jobs = snapshots.runnable_jobs(session)
        return None

    def _say(self, text: str, *, ok: bool, run_id: int = 0) -> None:
        self.notice, self.notice_ok, self.new_run_id = text, ok, run_id

    def pick(self, job_id: str) -> None:
        self.selected = str(job_id)

    def with_options(self) -> EventSpec | None:
        """Open the run modal on the chosen job (the modal checks the role when it queues)."""
        if not self.selected:
            self._say("Choose a job first, then open the run options.", ok=False)
            return None
        self._say("", ok=True)
        return RunModalState.show(self.selected, False, 0)  # type: ignore[arg-type,call-arg]

    def run_now(self, form: dict[str, Any]) -> EventSpec | None:
        """Trigger a job now. Any client can send this event: the session and role are checked
        here, against the database, and a refusal is audited."""
        job_id = str(form.get("job_id") or "").strip()
        reason = str(form.get("reason") or "")
        self.selected = ""  # the form resets its fields after a submit
        token = sessions.token_from_cookies(self.router.headers.cookie)
        refused = ""
        try:
            with session_scope() as session:
                who = sessions.authenticate(session, token)
                if who is None:
                    return signin_redirect(self)
                try:
                    result = actions.run_now(
                        session, username=who.username, job_id=job_id, reason=reason
                    )
                except actions.RefusedError as error:
                    refused = str(error)  # the refusal's audit row commits with this scope
        except TriggerError as error:
            self._say(str(error), ok=False)
            return None
        if refused:
            self._say(refused, ok=False)
            return None
        first = result.run_ids[0] if result.run_ids else 0
        self._say(f"Run {first} of {job_id} queued.", ok=True, run_id=first)
        return None


def _counts() -> rx.Component:
    return rx.el.section(
        rx.heading("Runs in the last 24 hours", as_="h2", size="4", id="counts-h"),
        rx.el.ul(
            rx.foreach(
                LiveFeed.counts,
                lambda c: rx.el.li(
                    rx.card(
                        rx.vstack(
                            status_badge(c.status),
                            rx.text(c.count, size="6", weight="bold"),
                            spacing="1",
                            align="start",
                        ),
                        size="1",
                    ),
                    data_status=c.status,
                    class_name="etl-count",
                ),
            ),
            class_name="etl-counts",
            id="status-counts",
        ),
        aria_labelledby="counts-h",
    )


def _run_now_form() -> rx.Component:
    return rx.el.section(
        rx.heading("Run a job now", as_="h2", size="4"),
        rx.form(
            rx.flex(
                rx.vstack(
                    rx.el.label("Job", html_for="run-now-job", class_name="etl-label"),
                    rx.el.select(
                        rx.el.option("Choose a job…", value=""),
                        rx.foreach(OverviewState.jobs, lambda j: rx.el.option(j, value=j)),
                        id="run-now-job",
                        name="job_id",
                        required=True,
                        class_name="etl-select",
                        on_change=OverviewState.pick,
                    ),
                    spacing="1",
                ),
                rx.vstack(
                    rx.el.label(
                        "Reason (for the audit)", html_for="run-now-reason", class_name="etl-label"
                    ),
                    rx.input(id="run-now-reason", name="reason", required=True, width="100%"),
                    spacing="1",
                    flex_grow="1",
                    min_width="12rem",
                ),
                rx.button("Run now", type="submit", id="run-now-submit"),
                rx.button(
                    "Run with options…",
                    type="button",
                    variant="outline",
                    on_click=OverviewState.with_options,
                    aria_haspopup="dialog",
                    id="run-with-options",
                ),
                align="end",
                wrap="wrap",
                spacing="3",
            ),
            on_submit=OverviewState.run_now,
            reset_on_submit=True,
        ),
        rx.cond(
            OverviewState.notice,
            rx.callout.root(
                rx.callout.text(
                    OverviewState.notice,
                    rx.cond(
                        OverviewState.new_run_id,
                        rx.link(" Open the run", href=f"/runs/{OverviewState.new_run_id}"),
                    ),
                ),
                color_scheme=rx.cond(OverviewState.notice_ok, "grass", "red"),
                high_contrast=True,
                role="status",
                margin_top="0.5rem",
                id="run-now-notice",
            ),
        ),
        class_name="etl-panel",
        id="run-now",
    )


def _run_row(run: Any) -> rx.Component:
    """`run` is the ObjectVar of one RunRow in a foreach."""
    return rx.table.row(
        rx.table.row_header_cell(rx.link(f"#{run.run_id}", href=f"/runs/{run.run_id}")),
        rx.table.cell(run.job_id),
        rx.table.cell(
            rx.hstack(
                status_badge(run.status),
                rx.cond(run.dry_run, rx.badge("dry run", variant="outline", high_contrast=True)),
                spacing="1",
            ),
            rx.cond(run.status_detail, rx.text(run.status_detail, size="1", color_scheme="gray")),
        ),
        rx.table.cell(run.trigger),
        rx.table.cell(timestamp(run.queued_at)),
        rx.table.cell(run.duration),
        data_run_id=run.run_id,
        data_status=run.status,
    )


def _latest() -> rx.Component:
    return table_section(
        "Latest runs",
        ("Run", "Job", "Status", "Trigger", "Queued", "Took"),
        LiveFeed.latest,
        _run_row,
        empty="No runs yet.",
        table_id="latest-runs",
    )


def page() -> rx.Component:
    return frame(
        rx.vstack(
            rx.heading("Overview", as_="h1", size="6"),
            _counts(),
            rx.cond(AuthState.can_operate, _run_now_form()),
            _latest(),
            spacing="5",
            width="100%",
        ),
        in_view=LiveFeed.latest_ids.contains,
    )
