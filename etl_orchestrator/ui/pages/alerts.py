"""Alerts (/alerts): what was sent to Slack and e-mail, newest first, with each delivery's state.

Failed-run alerts are listed only while the Admin setting ALERTS_VISIBLE is on; systemic ones
always are. Keyset pages of 25: the page holds one window, never the whole table.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.alerts import queries
from etl_orchestrator.db import session_scope
from etl_orchestrator.services import settings
from etl_orchestrator.ui.components.table_section import table_section
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import AuthState, join_live, signed_in, signin_redirect


class AlertsState(rx.State):
    rows: rx.Field[list[queries.AlertRow]] = rx.field(default_factory=list)
    #: Failure alerts are hidden by the Admin setting (systemic ones are still listed).
    failures_hidden: rx.Field[bool] = rx.field(False)
    older_than: rx.Field[int] = rx.field(0)
    #: Cursors of the pages before this one ("Newer" goes back to the last of them).
    cursors: rx.Field[list[int]] = rx.field(default_factory=list)
    cursor: rx.Field[int] = rx.field(0)

    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        await join_live(self)
        self.cursors = []
        self._fetch(0)
        return None

    def _fetch(self, cursor: int) -> None:
        with session_scope() as session:
            visible = settings.alerts_visible(session)
            page = queries.alert_page(
                session,
                older_than=cursor,
                include_failures=visible,
                limit=queries.PAGE_SIZE,
            )
        self.failures_hidden = not visible
        self.rows, self.older_than, self.cursor = page.rows, page.older_than, cursor

    def older(self) -> EventSpec | None:
        # Any client can send this event: read-only, but only for a signed-in user.
        if signed_in(self) is None:
            return signin_redirect(self)
        if self.older_than > 0:
            self.cursors = [*self.cursors[-200:], self.cursor]
            self._fetch(self.older_than)
        return None

    def newer(self) -> EventSpec | None:
        if signed_in(self) is None:
            return signin_redirect(self)
        cursors = list(self.cursors)
        previous = cursors.pop() if cursors else 0
        self.cursors = cursors
        self._fetch(previous)
        return None

    def newest(self) -> EventSpec | None:
        if signed_in(self) is None:
            return signin_redirect(self)
        self.cursors = []
        self._fetch(0)
        return None


def _row(row: Any) -> rx.Component:
    """`row` is the ObjectVar of one AlertRow in a foreach."""
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.text(row.kind_label, weight="bold"),
                rx.text(
                    row.severity,
                    rx.cond(row.ongoing, " · ongoing", ""),
                    size="1",
                ),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.cond(
                row.run_id > 0,
                rx.link("Run ", row.run_id, href="/runs/" + row.run_id.to_string()),
                rx.text("—"),
            )
        ),
        rx.table.cell(rx.cond(row.job_id, rx.code(row.job_id), rx.text("—"))),
        rx.table.cell(timestamp(row.created_at)),
        rx.table.cell(
            rx.el.ul(
                rx.foreach(row.deliveries, lambda d: rx.el.li(d)),
                style={"margin": "0", "padding_left": "1em"},
            )
        ),
        rx.table.cell(rx.text(row.message, size="1")),
        class_name="etl-alert-row",
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.button(
            "Newer",
            on_click=AlertsState.newer,
            disabled=AlertsState.cursor == 0,
            variant="soft",
            id="alerts-newer",
        ),
        rx.button(
            "Older",
            on_click=AlertsState.older,
            disabled=AlertsState.older_than == 0,
            variant="soft",
            id="alerts-older",
        ),
        rx.cond(
            AlertsState.cursor > 0,
            rx.button("Newest", on_click=AlertsState.newest, variant="ghost"),
        ),
        spacing="3",
        wrap="wrap",
    )


def page() -> rx.Component:
    return frame(
        rx.vstack(
            rx.heading("Alerts", as_="h1", size="6"),
            rx.text(
                "Failed runs and engine trouble, as sent to Slack and e-mail by the active "
                "scheduler. Times are UTC; hover or focus one for your local time.",
                size="2",
            ),
            rx.cond(
                AlertsState.failures_hidden,
                rx.callout(
                    "Failed-run alerts are hidden here by an administrator setting (Settings, "
                    "alert visibility). They are still sent to Slack and e-mail; engine alerts "
                    "are still listed.",
                    icon="eye-off",
                    color_scheme="gray",
                    id="alerts-hidden-note",
                ),
            ),
            table_section(
                "Sent alerts",
                ("Alert", "Run", "Job", "When", "Deliveries", "Message"),
                AlertsState.rows,
                _row,
                empty="No alerts.",
                table_id="alerts-table",
            ),
            _pager(),
            spacing="4",
            width="100%",
        ),
    )
