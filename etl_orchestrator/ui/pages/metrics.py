"""Metrics overview (/metrics-overview): the figures of every job, then one job's on request.

The page's own figures are read when it is shown (on_load starts a background read); the job
chooser mounts the job page's `job_metrics()` panel and loads it for the chosen job.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.db import session_scope
from etl_orchestrator.observability.metrics_report import Card, Spark
from etl_orchestrator.ui.components.job_metrics import (
    JobMetricsState,
    apply,
    fetch_report,
    job_metrics,
    metrics_panel,
)
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import AuthState, signin_redirect
from etl_orchestrator.web import snapshots


class MetricsPageState(rx.State):
    jobs: rx.Field[list[str]] = rx.field(default_factory=list)
    loading: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")
    source: rx.Field[str] = rx.field("")
    source_text: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")
    window_text: rx.Field[str] = rx.field("")
    cards: rx.Field[list[Card]] = rx.field(default_factory=list)
    sparks: rx.Field[list[Spark]] = rx.field(default_factory=list)
    dashboard_link: rx.Field[str] = rx.field("")

    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        with session_scope() as session:
            self.jobs = snapshots.runnable_jobs(session)
        self.loading, self.error = True, ""
        return MetricsPageState.fetch

    def retry(self) -> EventSpec:
        self.loading, self.error = True, ""
        return MetricsPageState.fetch

    def choose_job(self, form: dict[str, Any]) -> EventSpec | None:
        job_id = str(form.get("job_id") or "")
        if job_id not in self.jobs:
            return None
        return JobMetricsState.load(job_id)  # type: ignore[call-arg, arg-type]

    @rx.event(background=True)  # type: ignore[operator]
    async def fetch(self) -> None:
        report, error = await asyncio.to_thread(fetch_report, self, None)
        async with self:
            self.loading = False
            if report is None:
                self.error = error
            else:
                apply(self, report)


def _job_chooser() -> rx.Component:
    return rx.el.section(
        rx.heading("One job", as_="h2", size="4", id="job-metrics-h"),
        rx.form(
            rx.flex(
                rx.vstack(
                    rx.el.label("Job", html_for="metrics-job", class_name="etl-label"),
                    rx.el.select(
                        rx.el.option("Choose a job…", value=""),
                        rx.foreach(MetricsPageState.jobs, lambda j: rx.el.option(j, value=j)),
                        id="metrics-job",
                        name="job_id",
                        required=True,
                        class_name="etl-select",
                    ),
                    spacing="1",
                ),
                rx.button("Show", type="submit", id="metrics-job-show"),
                align="end",
                wrap="wrap",
                spacing="3",
            ),
            on_submit=MetricsPageState.choose_job,
        ),
        rx.cond(
            JobMetricsState.job_id,
            rx.vstack(
                rx.heading(JobMetricsState.job_id, as_="h3", size="3"),
                job_metrics(),
                width="100%",
                spacing="2",
            ),
        ),
        aria_labelledby="job-metrics-h",
    )


def page() -> rx.Component:
    return frame(
        rx.vstack(
            rx.heading("Metrics", as_="h1", size="6"),
            rx.el.section(
                rx.heading("All jobs", as_="h2", size="4", id="all-metrics-h"),
                metrics_panel(MetricsPageState, panel_id="all-metrics"),
                aria_labelledby="all-metrics-h",
            ),
            _job_chooser(),
            spacing="5",
            width="100%",
        ),
    )
