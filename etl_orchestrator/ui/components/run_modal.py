"""The run modal: run a job now with parameters, as a dry-run, or rerun a run (contract only).

Pages mount `run_modal()` once and open it with `RunModalState.show(job_id, dry_run, from_run_id)`
(`from_run_id` 0: a new run; otherwise prefill from that run's params, for a rerun).
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import reflex as rx


class RunModalState(rx.State):
    is_open: rx.Field[bool] = rx.field(False)
    job_id: rx.Field[str] = rx.field("")
    dry_run: rx.Field[bool] = rx.field(False)
    from_run_id: rx.Field[int] = rx.field(0)

    def show(self, job_id: str, dry_run: bool, from_run_id: int) -> None:
        self.job_id, self.dry_run, self.from_run_id = job_id, dry_run, from_run_id
        self.is_open = True

    def set_open(self, value: bool) -> None:
        self.is_open = value


def run_modal() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Run ", RunModalState.job_id),
            rx.dialog.close(rx.button("Close", type="button", variant="soft")),
            id="run-modal",
        ),
        open=RunModalState.is_open,
        on_open_change=RunModalState.set_open,
    )
