"""The interactive dependency graph (React Flow) of a job or the whole pipeline (contract only).

The job page mounts `dag_view()` and sends `DagState.load(job_id, whole)` (whole: the whole
pipeline instead of the job with its upstream and downstream).
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import reflex as rx


class DagState(rx.State):
    job_id: rx.Field[str] = rx.field("")
    whole: rx.Field[bool] = rx.field(False)

    def load(self, job_id: str, whole: bool) -> None:
        self.job_id, self.whole = job_id, whole


def dag_view() -> rx.Component:
    return rx.box(rx.text("Dependencies of ", DagState.job_id), id="dag-view")
