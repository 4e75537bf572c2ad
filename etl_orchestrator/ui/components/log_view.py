"""One run's log, streaming while the run executes (contract only).

Pages mount `log_view()` where the log goes and send `LogViewState.follow(run_id)` to show a run.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import reflex as rx


class LogViewState(rx.State):
    run_id: rx.Field[int] = rx.field(0)

    def follow(self, run_id: int) -> None:
        self.run_id = run_id


def log_view() -> rx.Component:
    return rx.box(
        rx.cond(LogViewState.run_id > 0, rx.text("Log of run ", LogViewState.run_id), ""),
        id="log-view",
    )
