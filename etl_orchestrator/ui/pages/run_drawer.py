"""The run drawer of the job page: one run live (RunFeed) with its timeline, attempts with their
error class and traceback, lineage, and for operators retry, cancel and rerun."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from typing import Any

import reflex as rx

from etl_orchestrator.ui.components.countdown import countdown
from etl_orchestrator.ui.components.run_audit import run_audit
from etl_orchestrator.ui.components.run_modal import RunModalState
from etl_orchestrator.ui.components.status_badge import status_badge
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.pages.job_state import JobPageState, event
from etl_orchestrator.ui.state import AuthState, LiveControl, RunFeed

#: The run in the drawer. Reflex's stubs type a dataclass field as a sequence; it is an ObjectVar.
RUN: Any = RunFeed.run


def fact(label: str, value: rx.Component | rx.Var[str] | str) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value))


def scroll_pre(text: Any, label: str, **props: Any) -> rx.Component:
    return rx.box(
        rx.el.pre(text, class_name="etl-pre"),
        class_name="etl-scroll",
        tab_index=0,
        role="region",
        aria_label=label,
        **props,
    )


def chips(items: Any, empty: str) -> rx.Component:
    return rx.cond(
        items.length() > 0,
        rx.flex(rx.foreach(items, lambda t: rx.code(t)), wrap="wrap", spacing="1"),
        rx.text(empty, as_="span"),
    )


def _summary() -> rx.Component:
    run = RUN
    return rx.data_list.root(
        fact("Status", rx.hstack(status_badge(run.status), rx.text(run.status_detail, size="2"))),
        fact("Job", rx.code(run.job_id)),
        fact("Trigger", rx.text(run.trigger, rx.cond(run.dry_run, " (dry run)", ""))),
        fact("Attempts", rx.text(run.attempts, " of ", run.max_attempts)),
        fact("Queued", timestamp(run.queued_at)),
        fact("Started", timestamp(run.started_at)),
        fact("Ended", timestamp(run.ended_at)),
        rx.cond(
            run.next_attempt_at & (run.status == "retrying"),
            fact(
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
        fact("Took", rx.cond(run.duration, run.duration, "—")),
        orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
        size="1",
        id="run-summary",
    )


def _timeline_item(event: Any) -> rx.Component:
    return rx.el.li(
        rx.hstack(
            rx.text(timestamp(event.ts), size="1", weight="medium", as_="span"),
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
        rx.heading("Timeline", as_="h2", size="3"),
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
                        scroll_pre(attempt.traceback, "Traceback"),
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
        rx.heading("Attempts", as_="h2", size="3"),
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
                as_="h2",
                size="3",
            ),
            scroll_pre(run.error_excerpt, "Error excerpt"),
            id="run-error",
        ),
    )


def _lineage() -> rx.Component:
    run = RUN
    return rx.el.section(
        rx.heading("Lineage", as_="h2", size="3"),
        rx.data_list.root(
            fact("Records read", run.records_read),
            fact("Records written", run.records_written),
            fact("Affected tables", chips(run.affected_tables, "none")),
            fact("Checksum", rx.cond(run.checksum, rx.code(run.checksum), "—")),
            fact("Requested by", run.requested_by),
            fact("Reason", rx.cond(run.reason, run.reason, "—")),
            rx.cond(
                run.retry_of > 0,
                fact("Retry of", rx.link(f"Run {run.retry_of}", href=f"/runs/{run.retry_of}")),
            ),
            orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
            size="1",
        ),
        rx.text("Parameters", weight="bold", size="2"),
        scroll_pre(run.params_json, "Run parameters (JSON)"),
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
            rx.heading("Actions", as_="h2", size="3"),
            rx.vstack(
                rx.cond(run.can_retry, _reason_form("retry", "Retry", JobPageState.retry)),
                rx.cond(run.can_cancel, _reason_form("cancel", "Cancel run", JobPageState.cancel)),
                rx.hstack(
                    rx.button(
                        "Rerun with parameters…",
                        type="button",
                        variant="soft",
                        on_click=event(RunModalState.show, run.job_id, False, run.run_id),
                        id="run-rerun",
                    ),
                    rx.button(
                        "Rerun as dry-run…",
                        type="button",
                        variant="soft",
                        on_click=event(RunModalState.show, run.job_id, True, run.run_id),
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
                        on_click=event(JobPageState.open_run, JobPageState.notice_run),
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
            run_audit(JobPageState.run_audit),
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


def run_drawer() -> rx.Component:
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
