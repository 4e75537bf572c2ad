"""Data freshness (/freshness): every table the jobs write, its last real write, and lateness."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import time
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.db import session_scope
from etl_orchestrator.services import freshness
from etl_orchestrator.ui.components.table_section import table_section
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import AuthState, join_live, signed_in, signin_redirect

#: A client's refreshes are honoured at most this often, whatever it sends.
MIN_REFRESH_S = 1.0
#: Lateness words with a colour each; the word is always shown.
STATE_COLOURS = (
    (freshness.LATE, "red"),
    (freshness.ON_TIME, "grass"),
    (freshness.NEVER, "amber"),
    (freshness.UNSCHEDULED, "gray"),
)


class FreshnessState(rx.State):
    tables: rx.Field[list[freshness.TableFreshness]] = rx.field(default_factory=list)
    late: rx.Field[int] = rx.field(0)
    checked_at: rx.Field[str] = rx.field("")
    _last_refresh: float = 0.0

    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        await join_live(self)
        self._read()
        return None

    def _read(self) -> None:
        self._last_refresh = time.monotonic()
        with session_scope() as session:
            self.tables = freshness.table_freshness(session)
        self.late = sum(1 for row in self.tables if row.state == freshness.LATE)
        self.checked_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def refresh(self) -> EventSpec | None:
        if time.monotonic() - self._last_refresh < MIN_REFRESH_S:
            return None
        if signed_in(self) is None:
            return signin_redirect(self)
        self._read()
        return None


def _state_badge(state: Any) -> rx.Component:
    return rx.badge(
        state,
        color_scheme=rx.match(state, *STATE_COLOURS, "gray"),
        variant="soft",
        high_contrast=True,
    )


def _row(row: Any) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.code(row.table)),
        rx.table.cell(
            _state_badge(row.state),
            rx.cond(row.detail, rx.text(row.detail, size="1", color_scheme="gray")),
        ),
        rx.table.cell(timestamp(row.ended_at, empty="never")),
        rx.table.cell(
            rx.cond(
                row.run_id > 0,
                rx.link(
                    f"#{row.run_id}", href=f"/runs/{row.run_id}", aria_label=f"Run {row.run_id}"
                ),
                "—",
            )
        ),
        rx.table.cell(row.job_id),
        rx.table.cell(rx.cond(row.records, row.records, "—")),
        rx.table.cell(rx.cond(row.checksum, rx.code(row.checksum), "—")),
        data_table=row.table,
        data_state=row.state,
    )


def page() -> rx.Component:
    return frame(
        rx.vstack(
            rx.heading("Data freshness", as_="h1", size="6"),
            rx.text(
                "Each table the jobs write, with the last successful real (not dry) run that "
                "wrote it. A table is late when its job's schedule was due since then, plus "
                f"{int(freshness.DEFAULT_GRACE.total_seconds() // 60)} minutes' grace.",
                size="2",
            ),
            rx.flex(
                rx.text(
                    FreshnessState.tables.length(),
                    " tables, ",
                    FreshnessState.late,
                    " late. Read at ",
                    timestamp(FreshnessState.checked_at),
                    size="2",
                    id="freshness-summary",
                ),
                rx.button(
                    rx.icon("refresh_cw", aria_hidden="true"),
                    "Refresh",
                    type="button",
                    size="1",
                    variant="soft",
                    on_click=FreshnessState.refresh,
                ),
                spacing="3",
                align="center",
                wrap="wrap",
            ),
            table_section(
                "Tables",
                (
                    "Table",
                    "Freshness",
                    "Last written (UTC)",
                    "Run",
                    "Job",
                    "Records written",
                    "Checksum",
                ),
                FreshnessState.tables,
                _row,
                empty="No job declares or recorded a table it writes.",
                table_id="freshness-table",
            ),
            spacing="4",
            width="100%",
        ),
    )
