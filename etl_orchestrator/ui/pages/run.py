"""One run (/runs/<id>): status, job, times, attempts and the error, updated live."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.ui.components.log_view import LogViewState, log_view
from etl_orchestrator.ui.components.status_badge import status_badge
from etl_orchestrator.ui.components.table_section import table_section
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import (
    AuthState,
    RunFeed,
    join_live,
    join_run,
    run_id_of_path,
    signin_redirect,
)

#: The run on display. Reflex's stubs type a dataclass field as a sequence; it is an ObjectVar.
RUN: Any = RunFeed.run


class RunPageState(rx.State):
    bad_id: rx.Field[bool] = rx.field(False)

    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        await join_live(self)
        run_id = run_id_of_path(self.router.url.path)
        self.bad_id = run_id is None
        if run_id is None:
            return None
        await join_run(self, run_id)
        return LogViewState.follow(run_id)  # type: ignore[call-arg,arg-type,return-value]


def _fact(label: str, value: rx.Component | rx.Var[str] | str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label),
        rx.data_list.value(value),
    )


def _summary() -> rx.Component:
    run = RUN
    return rx.data_list.root(
        _fact("Status", rx.hstack(status_badge(run.status), rx.text(run.status_detail, size="2"))),
        _fact("Job", rx.code(run.job_id)),
        _fact("Trigger", rx.text(run.trigger, rx.cond(run.dry_run, " (dry run)", ""))),
        _fact("Requested by", run.requested_by),
        _fact("Reason", rx.cond(run.reason, run.reason, "—")),
        _fact("Attempts", rx.text(run.attempts, " of ", run.max_attempts)),
        _fact("Queued", timestamp(run.queued_at)),
        _fact("Started", timestamp(run.started_at)),
        _fact("Ended", timestamp(run.ended_at)),
        rx.cond(run.next_attempt_at, _fact("Next attempt", timestamp(run.next_attempt_at))),
        _fact("Took", rx.cond(run.duration, run.duration, "—")),
        orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
        id="run-summary",
    )


def _error() -> rx.Component:
    run = RUN
    return rx.cond(
        run.error_excerpt,
        rx.el.section(
            rx.heading(
                "Error",
                rx.cond(run.error_class, rx.text(" (", run.error_class, ")", as_="span")),
                as_="h2",
                size="4",
            ),
            rx.box(
                rx.el.pre(run.error_excerpt, class_name="etl-pre"),
                class_name="etl-scroll",
                tab_index=0,
                role="region",
                aria_label="Error excerpt",
            ),
            id="run-error",
        ),
    )


def _attempt(attempt: Any) -> rx.Component:
    """`attempt` is the ObjectVar of one AttemptRow in a foreach."""
    return rx.table.row(
        rx.table.row_header_cell(attempt.attempt),
        rx.table.cell(status_badge(attempt.outcome)),
        rx.table.cell(timestamp(attempt.started_at)),
        rx.table.cell(attempt.duration),
        rx.table.cell(attempt.worker),
        rx.table.cell(rx.text(attempt.error_class, " ", attempt.error, size="1")),
    )


def _attempts() -> rx.Component:
    return table_section(
        "Attempts",
        ("#", "Outcome", "Started", "Took", "Worker", "Error"),
        RUN.attempt_rows,
        _attempt,
        empty="No attempt yet.",
    )


def _not_found() -> rx.Component:
    return rx.vstack(
        rx.heading("Run not found", as_="h1", size="6"),
        rx.text(
            "There is no run with this number: it never existed, or retention removed it. ",
            rx.link("Back to the overview", href="/"),
        ),
    )


def page() -> rx.Component:
    return frame(
        rx.cond(
            RunPageState.bad_id | ((RUN.run_id > 0) & ~RUN.found),
            _not_found(),
            rx.cond(
                RUN.run_id > 0,
                rx.vstack(
                    rx.heading("Run ", RUN.run_id, as_="h1", size="6"),
                    _summary(),
                    _error(),
                    _attempts(),
                    log_view(),
                    spacing="5",
                    width="100%",
                ),
                rx.heading("Loading the run…", as_="h1", size="6"),
            ),
        ),
        announce=RunFeed.announcement,
        in_view=lambda run_id: run_id == RUN.run_id.to_string(),
    )
