"""One job (/jobs/<id>): tabs Overview, DAG, Runs, Logs, Metrics, and a run drawer (/runs/<id>).

The tab is in the URL (?tab=runs) so it can be linked; the drawer (run_drawer.py) shows one run
live. The page's state is JobPageState (job_state.py).
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from typing import Any

import reflex as rx

from etl_orchestrator.ui.components.dag_view import dag_view
from etl_orchestrator.ui.components.job_metrics import job_metrics
from etl_orchestrator.ui.components.log_view import log_view
from etl_orchestrator.ui.components.poller import poller
from etl_orchestrator.ui.components.run_modal import RunModalState
from etl_orchestrator.ui.components.status_badge import status_badge
from etl_orchestrator.ui.components.table_section import table_section
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.pages.job_state import (
    RUNS_REFRESH_MS,
    TAB_LABELS,
    TABS,
    JobPageState,
    event,
)
from etl_orchestrator.ui.pages.run_drawer import RUN, chips, fact, run_drawer, scroll_pre
from etl_orchestrator.ui.state import AuthState, LiveControl, LiveFeed, RunFeed

__all__ = ["JobPageState", "page"]


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
            fact("Kind", job.kind),
            fact("Enabled", rx.cond(job.enabled, "yes", "no: it does not run")),
            fact(
                "Schedule",
                rx.cond(
                    job.cron,
                    rx.text(rx.code(job.cron), " — ", job.cron_text, " (", job.timezone, ")"),
                    job.cron_text,
                ),
            ),
            fact(
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
            fact(
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
            fact("Retry policy", rx.text(job.retry_text, id="job-retry")),
            fact("Timeout", job.timeout_text),
            fact("Attempts run in", rx.text(job.isolation_text, id="job-isolation")),
            fact("Upstream wait timeout", job.wait_timeout_text),
            fact("Reads", chips(job.reads, "nothing declared")),
            fact("Writes", chips(job.writes, "nothing declared")),
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
            scroll_pre(job.config_json, "Job configuration (JSON)", id="job-config"),
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
        on_click=event(JobPageState.open_run, run.run_id),
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
                dag_view(
                    job=JobPageState.job.job_id,  # type: ignore[attr-defined]
                    whole=JobPageState.whole_dag,
                ),
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
                    on_click=event(RunModalState.show, job.job_id, False, 0),
                    id="job-run",
                ),
                rx.button(
                    "Dry-run…",
                    type="button",
                    variant="soft",
                    on_click=event(RunModalState.show, job.job_id, True, 0),
                    id="job-dry-run",
                ),
                spacing="2",
            ),
        ),
        _tabs(),
        run_drawer(),
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
