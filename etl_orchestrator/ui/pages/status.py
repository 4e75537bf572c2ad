"""Phone status (/status): overall health, runs going now, failures of the last 24 h, next runs.

Small and fast: short bounded lists as cards (no tables), refreshed on the console's poll.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import time
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.db import session_scope
from etl_orchestrator.services import status_view
from etl_orchestrator.ui.components.poller import poller
from etl_orchestrator.ui.components.status_badge import status_badge
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import AuthState, LiveControl, join_live, signed_in, signin_redirect
from etl_orchestrator.web.health import current_health

#: A client's refreshes are honoured at most this often, whatever it sends.
MIN_REFRESH_S = 2.0
HEALTH_COLOURS = (("ok", "grass"), ("degraded", "amber"), ("down", "red"))


class StatusPageState(rx.State):
    view: rx.Field[status_view.StatusView] = rx.field(default_factory=status_view.StatusView)
    health: rx.Field[str] = rx.field("")
    problems: rx.Field[list[str]] = rx.field(default_factory=list)
    checked_at: rx.Field[str] = rx.field("")
    _last_refresh: float = 0.0

    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        await join_live(self)
        await self._read()
        return None

    async def _read(self) -> None:
        self._last_refresh = time.monotonic()
        with session_scope() as session:
            self.view = status_view.status_view(session)
        summary = await current_health()
        self.health = summary.status if summary.available else "unknown"
        self.problems = summary.problems
        self.checked_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    async def refresh(self) -> EventSpec | None:
        if time.monotonic() - self._last_refresh < MIN_REFRESH_S:
            return None
        if signed_in(self) is None:
            return signin_redirect(self)
        await self._read()
        return None


VIEW: Any = StatusPageState.view


def _card(*children: rx.Component, **props: Any) -> rx.Component:
    return rx.el.li(rx.card(*children, size="1"), **props)


def _list(items: Any, render: Any, empty: str, list_id: str) -> rx.Component:
    return rx.cond(
        items.length() > 0,
        rx.el.ul(
            rx.foreach(items, render),
            id=list_id,
            style={
                "list_style": "none",
                "padding": "0",
                "margin": "0",
                "display": "grid",
                "gap": "0.5rem",
            },
        ),
        rx.text(empty, color_scheme="gray", size="2"),
    )


def _run(run: Any) -> rx.Component:
    return _card(
        rx.flex(
            rx.link(f"Run {run.run_id}", href=f"/runs/{run.run_id}", weight="bold"),
            status_badge(run.status),
            rx.cond(run.note, rx.text(run.note, size="1")),
            wrap="wrap",
            spacing="2",
            align="center",
        ),
        rx.text(rx.code(run.job_id, style={"word_break": "break-all"}), size="2"),
        rx.text(timestamp(run.at), size="1"),
        data_run_id=run.run_id,
    )


def _next(item: Any) -> rx.Component:
    return _card(
        rx.text(rx.code(item.job_id, style={"word_break": "break-all"}), size="2"),
        rx.text(timestamp(item.at), size="1"),
    )


def _section(title: str, count: Any, body: rx.Component, section_id: str) -> rx.Component:
    return rx.el.section(
        rx.heading(title, " (", count, ")", as_="h2", size="4", margin_bottom="0.5rem"),
        body,
        id=section_id,
    )


def _health() -> rx.Component:
    return rx.el.section(
        rx.heading("Health", as_="h2", size="4", margin_bottom="0.5rem"),
        rx.flex(
            rx.badge(
                StatusPageState.health,
                color_scheme=rx.match(StatusPageState.health, *HEALTH_COLOURS, "gray"),
                variant="soft",
                high_contrast=True,
                size="3",
                id="status-health",
            ),
            rx.text("checked ", timestamp(StatusPageState.checked_at), size="1"),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.el.ul(
            rx.foreach(StatusPageState.problems, lambda p: rx.el.li(rx.text(p, size="2"))),
            style={"padding_left": "1.25rem", "margin": "0.5rem 0 0"},
        ),
    )


def page() -> rx.Component:
    return frame(
        rx.vstack(
            rx.heading("Status", as_="h1", size="6"),
            _health(),
            _section(
                "Running now",
                VIEW.running_total,
                _list(VIEW.running, _run, "Nothing is running.", "status-running"),
                "status-running-section",
            ),
            _section(
                "Failed in the last 24 hours",
                VIEW.failures_total,
                _list(VIEW.failures, _run, "No failures in the last 24 hours.", "status-failures"),
                "status-failures-section",
            ),
            rx.el.section(
                rx.heading("Next scheduled runs", as_="h2", size="4", margin_bottom="0.5rem"),
                _list(VIEW.upcoming, _next, "No scheduled runs.", "status-upcoming"),
            ),
            spacing="5",
            width="100%",
        ),
        poller(
            interval_ms=rx.cond(LiveControl.paused, 0, LiveControl.poll_ms),
            on_tick=StatusPageState.refresh,
        ),
    )
