"""One job's metrics (the job page's Metrics tab), and the panel the metrics page shares.

The job page mounts `job_metrics()` in its Metrics tab and sends `JobMetricsState.load(job_id)`
when the tab opens: nothing is queried before that (lazy). The figures come from
observability/metrics_report.py in a worker thread, off the event loop; the panel always names
its source, explains a fallback to the database, and offers Retry when even that fails.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import asyncio
import logging
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.observability.metrics_report import Card, MetricsReport, Spark, metrics_report
from etl_orchestrator.ui.state import signed_in

log = logging.getLogger(__name__)
#: Lists laid out as grids that wrap down to one column at 360 px (no horizontal scroll).
_GRID_SMALL = {
    "listStyle": "none",
    "padding": 0,
    "margin": 0,
    "display": "grid",
    "gap": "0.5rem",
    "gridTemplateColumns": "repeat(auto-fill, minmax(10rem, 1fr))",
}
_GRID_WIDE = {**_GRID_SMALL, "gridTemplateColumns": "repeat(auto-fill, minmax(16rem, 1fr))"}
FAILED = "The figures could not be read (the database did not answer). Try again in a moment."


SIGNED_OUT = "Your session has ended: sign in again to see the metrics."


def read_report(job_id: str | None) -> MetricsReport:
    """Blocking: Prometheus or the database."""
    return metrics_report(job_id or None)


def fetch_report(state: rx.State, job_id: str | None) -> tuple[MetricsReport | None, str]:
    """Blocking: the report for this client's user, or why not (the error the panel shows)."""
    try:
        if signed_in(state) is None:
            return None, SIGNED_OUT
        return read_report(job_id), ""
    except Exception:
        log.exception("metrics of %s could not be read", job_id or "all jobs")
        return None, FAILED


class JobMetricsState(rx.State):
    job_id: rx.Field[str] = rx.field("")
    loading: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")
    source: rx.Field[str] = rx.field("")
    source_text: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")
    window_text: rx.Field[str] = rx.field("")
    cards: rx.Field[list[Card]] = rx.field(default_factory=list)
    sparks: rx.Field[list[Spark]] = rx.field(default_factory=list)
    dashboard_link: rx.Field[str] = rx.field("")

    def load(self, job_id: str) -> EventSpec:
        self.job_id = str(job_id or "")
        self.loading, self.error = True, ""
        return JobMetricsState.fetch

    def retry(self) -> EventSpec:
        self.loading, self.error = True, ""
        return JobMetricsState.fetch

    @rx.event(background=True)  # type: ignore[operator]
    async def fetch(self) -> None:
        async with self:
            job_id = self.job_id
        report, error = await asyncio.to_thread(fetch_report, self, job_id)
        async with self:
            if job_id != self.job_id:
                return  # another job was chosen meanwhile; its own fetch fills the view
            self.loading = False
            if report is None:
                self.error = error
            else:
                apply(self, report)


def apply(state: Any, report: MetricsReport) -> None:
    """Copy a report into a state that has the panel's fields."""
    state.error = ""
    state.source, state.source_text, state.notice = (
        report.source,
        report.source_text,
        report.notice,
    )
    state.window_text, state.dashboard_link = report.window_text, report.dashboard_link
    state.cards, state.sparks = report.cards, report.sparks


def _card(card: Any) -> rx.Component:
    return rx.el.li(
        rx.card(
            rx.vstack(
                rx.text(card.label, size="2", color_scheme="gray", high_contrast=True),
                rx.text(card.value, size="6", weight="bold", class_name="etl-figure-value"),
                spacing="1",
                align="start",
            ),
            size="1",
        ),
        data_figure=card.key,
        class_name="etl-figure",
    )


def _spark(spark: Any) -> rx.Component:
    return rx.el.li(
        rx.card(
            rx.vstack(
                rx.text(spark.label, size="2", weight="bold"),
                rx.el.svg(
                    rx.el.svg.polyline(
                        points=spark.points,
                        fill="none",
                        stroke="currentColor",
                        stroke_width="1.5",
                        vector_effect="non-scaling-stroke",
                    ),
                    view_box="0 0 100 30",
                    preserve_aspect_ratio="none",
                    role="img",
                    aria_label=spark.label + ": " + spark.summary,
                    width="100%",
                    height="2.5rem",
                    class_name="etl-sparkline",
                ),
                rx.text(spark.summary, size="1"),
                rx.cond(
                    spark.link,
                    rx.link(
                        "Open in Grafana",
                        href=spark.link,
                        is_external=True,
                        size="1",
                        class_name="etl-grafana-link",
                    ),
                ),
                rx.cond(
                    spark.embed,
                    rx.el.iframe(
                        src=spark.embed,
                        title=spark.label + " (Grafana panel)",
                        width="100%",
                        height="200",
                        class_name="etl-grafana-embed",
                        style={"border": "0"},
                    ),
                ),
                spacing="1",
                align="stretch",
                width="100%",
            ),
            size="1",
        ),
        data_figure=spark.key,
        class_name="etl-spark",
    )


def metrics_panel(state: Any, *, panel_id: str) -> rx.Component:
    """The figures, their source and trend lines, from `state`'s vars (a state class with the
    fields of JobMetricsState and a `retry` handler); pure."""
    loading, error, source = state.loading, state.error, state.source
    source_text, notice, window_text = state.source_text, state.notice, state.window_text
    cards, sparks, dashboard_link = state.cards, state.sparks, state.dashboard_link
    on_retry = state.retry
    return rx.box(
        rx.cond(
            error,
            rx.callout.root(
                rx.callout.text(error),
                rx.button("Retry", on_click=on_retry, type="button", size="1", margin_top="0.5rem"),
                color_scheme="red",
                high_contrast=True,
                role="alert",
                class_name="etl-metrics-error",
            ),
            rx.cond(
                loading & ~source.to(bool),
                rx.text("Loading the figures…", role="status", size="2"),
                rx.vstack(
                    rx.hstack(
                        rx.text(
                            source_text, size="2", weight="bold", class_name="etl-metrics-source"
                        ),
                        rx.cond(loading, rx.text("Refreshing…", size="1", role="status")),
                        rx.button(
                            "Refresh", on_click=on_retry, type="button", size="1", variant="soft"
                        ),
                        rx.cond(
                            dashboard_link,
                            rx.link(
                                "Grafana dashboard", href=dashboard_link, is_external=True, size="2"
                            ),
                        ),
                        align="center",
                        wrap="wrap",
                        spacing="3",
                    ),
                    rx.cond(
                        notice,
                        rx.callout.root(
                            rx.callout.text(notice),
                            color_scheme="amber",
                            high_contrast=True,
                            role="status",
                            class_name="etl-metrics-notice",
                            style={"overflowWrap": "anywhere"},
                        ),
                    ),
                    rx.text(window_text, size="1"),
                    rx.el.ul(rx.foreach(cards, _card), class_name="etl-figures", style=_GRID_SMALL),
                    rx.el.ul(rx.foreach(sparks, _spark), class_name="etl-sparks", style=_GRID_WIDE),
                    spacing="3",
                    width="100%",
                ),
            ),
        ),
        data_source=source,
        id=panel_id,
        width="100%",
    )


def job_metrics() -> rx.Component:
    return metrics_panel(JobMetricsState, panel_id="job-metrics")
