"""One job's metrics for the job page's Metrics tab (contract only).

The job page mounts `job_metrics()` in its Metrics tab and sends `JobMetricsState.load(job_id)`
when the tab opens.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import reflex as rx


class JobMetricsState(rx.State):
    job_id: rx.Field[str] = rx.field("")

    def load(self, job_id: str) -> None:
        self.job_id = job_id


def job_metrics() -> rx.Component:
    return rx.box(rx.text("Metrics of ", JobMetricsState.job_id), id="job-metrics")
