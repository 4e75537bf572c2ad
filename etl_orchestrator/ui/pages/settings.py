"""Settings (/settings): the parallel-jobs cap and alert visibility, changed by admins only.

Everyone signed in may look; the controls are shown to admins, and every handler that changes
something re-reads the role from the database (a forged event from anyone else is refused and
audited). A cap change goes through a confirmation step with a required reason, then shows when
the dispatcher applied it.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import time
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.config import MAX_PARALLEL_JOBS
from etl_orchestrator.db import session_scope
from etl_orchestrator.services import settings as settings_service
from etl_orchestrator.services import settings_view
from etl_orchestrator.ui.components.poller import poller
from etl_orchestrator.ui.components.table_section import table_section
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import AuthState, join_live, signin_redirect
from etl_orchestrator.web import sessions
from etl_orchestrator.web.actions import RefusedError
from etl_orchestrator.web.settings_actions import (
    ADMIN,
    change_alerts_visible,
    change_parallel_jobs,
    parse_cap,
)

#: While a change waits for the dispatcher, the page re-reads the setting this often.
WAITING_POLL_MS = 1000
MIN_REFRESH_S = 0.5


class SettingsPageState(rx.State):
    view: rx.Field[settings_view.SettingsView] = rx.field(
        default_factory=settings_view.SettingsView
    )
    history: rx.Field[list[settings_view.HistoryRow]] = rx.field(default_factory=list)
    more_history: rx.Field[bool] = rx.field(False)
    #: The cap change being confirmed (0: none), and its reason.
    pending_cap: rx.Field[int] = rx.field(0)
    pending_reason: rx.Field[str] = rx.field("")
    confirming: rx.Field[bool] = rx.field(False)
    notice: rx.Field[str] = rx.field("")
    notice_ok: rx.Field[bool] = rx.field(False)
    _last_refresh: float = 0.0

    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        await join_live(self)
        self.notice, self.confirming, self.pending_cap = "", False, 0
        self._read()
        return None

    def _read(self) -> None:
        with session_scope() as session:
            self.view = settings_view.settings_view(session)
            rows = settings_view.history(session, limit=settings_view.HISTORY_PAGE + 1)
        self.more_history = len(rows) > settings_view.HISTORY_PAGE
        self.history = rows[: settings_view.HISTORY_PAGE]

    def refresh(self) -> EventSpec | None:
        """Re-read: the page's poll while a change waits for the dispatcher."""
        now = time.monotonic()
        if now - self._last_refresh < MIN_REFRESH_S:
            return None  # any client can send this event as often as it likes
        self._last_refresh = now
        if self._who() is None:
            return signin_redirect(self)
        self._read()
        return None

    def older_history(self) -> None:
        if not self.history or self._who() is None:
            return
        with session_scope() as session:
            rows = settings_view.history(
                session,
                before_id=self.history[-1].id,
                limit=settings_view.HISTORY_PAGE + 1,
            )
        self.more_history = len(rows) > settings_view.HISTORY_PAGE
        # Keep a bounded window: the newest page is re-read on load.
        self.history = rows[: settings_view.HISTORY_PAGE]

    def _who(self) -> sessions.SignedIn | None:
        token = sessions.token_from_cookies(self.router.headers.cookie)
        with session_scope() as session:
            return sessions.authenticate(session, token)

    def _say(self, text: str, *, ok: bool) -> None:
        self.notice, self.notice_ok = text, ok

    def review_cap(self, form: dict[str, Any]) -> EventSpec | None:
        """Step 1: check the form and ask for confirmation (nothing changes yet)."""
        if self._who() is None:
            return signin_redirect(self)
        reason = str(form.get("reason") or "").strip()
        try:
            value = parse_cap(form.get("parallel_jobs"))
            if not 1 <= value <= self.view.max_parallel_jobs:
                raise settings_service.SettingError(
                    f"parallel jobs must be a whole number from 1 to {self.view.max_parallel_jobs}"
                )
        except settings_service.SettingError as error:
            self._say(f"{error}. Enter a number in that range.", ok=False)
            return None
        if not reason:
            self._say("Say why you change it: a reason is required for the audit.", ok=False)
            return None
        if value == self.view.parallel_jobs:
            self._say(f"Parallel jobs is already {value}: nothing to change.", ok=False)
            return None
        self.pending_cap, self.pending_reason, self.confirming = value, reason, True
        self.notice = ""
        return None

    def cancel_review(self) -> None:
        self.confirming, self.pending_cap = False, 0

    def set_confirming(self, value: bool) -> None:
        if not value:
            self.cancel_review()

    def confirm_cap(self) -> EventSpec | None:
        """Step 2: change the cap. Any client can send this: the role is checked here."""
        self.confirming = False
        if self.pending_cap <= 0:
            self._say("Nothing to confirm: enter the new value and a reason first.", ok=False)
            return None
        token = sessions.token_from_cookies(self.router.headers.cookie)
        refused = ""
        try:
            with session_scope() as session:
                who = sessions.authenticate(session, token)
                if who is None:
                    return signin_redirect(self)
                try:
                    change_parallel_jobs(
                        session,
                        username=who.username,
                        value=str(self.pending_cap),
                        reason=self.pending_reason,
                    )
                except RefusedError as error:
                    refused = str(error)  # the refusal's audit row commits with this scope
        except settings_service.SettingError as error:
            self._say(f"Not changed: {error}.", ok=False)
            return None
        finally:
            self.pending_cap = 0
        if refused:
            self._say(refused, ok=False)
            return None
        self._read()
        self._say("Saved. Running jobs keep running; new dispatches follow the new cap.", ok=True)
        return None

    def save_alerts(self, form: dict[str, Any]) -> EventSpec | None:
        """Turn failure alerts in the console on or off; admins only (checked here)."""
        visible = str(form.get("alerts_visible") or "") == "on"
        reason = str(form.get("reason") or "")
        token = sessions.token_from_cookies(self.router.headers.cookie)
        refused = ""
        try:
            with session_scope() as session:
                who = sessions.authenticate(session, token)
                if who is None:
                    return signin_redirect(self)
                try:
                    change_alerts_visible(
                        session, username=who.username, value=visible, reason=reason
                    )
                except RefusedError as error:
                    refused = str(error)
        except settings_service.SettingError as error:
            self._say(f"Not changed: {error}.", ok=False)
            return None
        if refused:
            self._say(refused, ok=False)
            return None
        self._read()
        self._say(
            f"Failure alerts are now {'shown' if visible else 'hidden'} in the console.", ok=True
        )
        return None


VIEW: Any = SettingsPageState.view
IS_ADMIN = AuthState.role == ADMIN


def _notice() -> rx.Component:
    return rx.cond(
        SettingsPageState.notice,
        rx.callout.root(
            rx.callout.text(SettingsPageState.notice),
            color_scheme=rx.cond(SettingsPageState.notice_ok, "grass", "red"),
            high_contrast=True,
            role=rx.cond(SettingsPageState.notice_ok, "status", "alert"),
            id="settings-notice",
        ),
    )


def _applied() -> rx.Component:
    return rx.cond(
        VIEW.parallel_applied_at,
        rx.text("Applied by the dispatcher at ", timestamp(VIEW.parallel_applied_at), size="2"),
        rx.text(
            rx.icon("loader", size=14, aria_hidden="true"),
            " Waiting for the dispatcher to apply it…",
            size="2",
        ),
    )


def _cap_facts() -> rx.Component:
    return rx.data_list.root(
        rx.data_list.item(
            rx.data_list.label("Parallel jobs (ETL_PARALLEL_JOBS)"),
            rx.data_list.value(rx.text(VIEW.parallel_jobs, weight="bold", id="cap-value")),
        ),
        rx.data_list.item(
            rx.data_list.label("Last changed"),
            rx.data_list.value(
                rx.text(timestamp(VIEW.parallel_updated_at), " by ", VIEW.parallel_updated_by)
            ),
        ),
        rx.data_list.item(
            rx.data_list.label("Effective"),
            rx.data_list.value(rx.box(_applied(), id="cap-applied")),
        ),
        orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
    )


def _field(label: str, control: rx.Component, field_id: str) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=field_id, class_name="etl-label"),
        control,
        spacing="1",
        width="100%",
    )


def _cap_form() -> rx.Component:
    return rx.form(
        rx.flex(
            _field(
                f"New value (1 to {MAX_PARALLEL_JOBS})",
                rx.input(
                    id="cap-input",
                    name="parallel_jobs",
                    type="number",
                    min=1,
                    max=MAX_PARALLEL_JOBS,
                    required=True,
                ),
                "cap-input",
            ),
            _field(
                "Reason (for the audit)",
                rx.input(id="cap-reason", name="reason", required=True, width="100%"),
                "cap-reason",
            ),
            rx.button("Review change", type="submit", id="cap-review"),
            direction="column",
            spacing="3",
            max_width="28rem",
        ),
        on_submit=SettingsPageState.review_cap,
        id="cap-form",
    )


def _confirm_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Change parallel jobs?"),
            rx.alert_dialog.description(
                "From ",
                rx.text(VIEW.parallel_jobs, weight="bold", as_="span"),
                " to ",
                rx.text(SettingsPageState.pending_cap, weight="bold", as_="span"),
                ". Running jobs are not stopped: the dispatcher starts new runs only while "
                "fewer than the new value are running.",
            ),
            rx.text("Reason: ", SettingsPageState.pending_reason, size="2", margin_top="0.5rem"),
            rx.flex(
                rx.alert_dialog.cancel(
                    rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "Confirm change",
                        type="button",
                        on_click=SettingsPageState.confirm_cap,
                        id="cap-confirm",
                    )
                ),
                spacing="3",
                justify="end",
                margin_top="1rem",
                wrap="wrap",
            ),
            id="cap-dialog",
        ),
        open=SettingsPageState.confirming,
        on_open_change=SettingsPageState.set_confirming,
    )


def _cap_section() -> rx.Component:
    return rx.el.section(
        rx.heading("Parallel jobs", as_="h2", size="4"),
        rx.text(
            "How many runs may hold a slot (dispatched or running) at once. Lowering it never "
            "stops a running job; it only holds new dispatches back.",
            size="2",
            color_scheme="gray",
        ),
        _cap_facts(),
        rx.cond(IS_ADMIN, rx.box(_cap_form(), _confirm_dialog(), margin_top="1rem")),
        class_name="etl-panel",
        id="settings-cap",
    )


def _alerts_form() -> rx.Component:
    return rx.form(
        rx.flex(
            _field(
                "Failure alerts in the console",
                rx.el.select(
                    rx.el.option("Shown", value="on"),
                    rx.el.option("Hidden", value="off"),
                    id="alerts-visible",
                    name="alerts_visible",
                    default_value=rx.cond(VIEW.alerts_visible, "on", "off"),
                    key=rx.cond(VIEW.alerts_visible, "on", "off"),
                    class_name="etl-select",
                ),
                "alerts-visible",
            ),
            _field(
                "Reason (for the audit)",
                rx.input(id="alerts-reason", name="reason", required=True, width="100%"),
                "alerts-reason",
            ),
            rx.button("Save", type="submit", id="alerts-save"),
            direction="column",
            spacing="3",
            max_width="28rem",
        ),
        on_submit=SettingsPageState.save_alerts,
        reset_on_submit=True,
    )


def _alerts_section() -> rx.Component:
    return rx.el.section(
        rx.heading("Alerts", as_="h2", size="4"),
        rx.text(
            "Failure alerts are ",
            rx.text(rx.cond(VIEW.alerts_visible, "shown", "hidden"), weight="bold", as_="span"),
            " in the console (toasts and the alerts page). Slack and e-mail deliveries go out "
            "either way.",
            size="2",
            id="alerts-state",
        ),
        rx.cond(IS_ADMIN, rx.box(_alerts_form(), margin_top="0.75rem")),
        rx.heading("Destinations (from the environment, read-only)", as_="h3", size="3", mt="4"),
        rx.data_list.root(
            rx.foreach(
                VIEW.destinations,
                lambda d: rx.data_list.item(
                    rx.data_list.label(d.name),
                    rx.data_list.value(
                        rx.code(d.value, variant="ghost", style={"word_break": "break-all"})
                    ),
                ),
            ),
            orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
            id="alert-destinations",
        ),
        class_name="etl-panel",
    )


def _history_row(row: Any) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(timestamp(row.changed_at)),
        rx.table.cell(rx.code(row.key)),
        rx.table.cell(row.changed_by),
        rx.table.cell(row.old_value, " → ", row.new_value),
        rx.table.cell(row.reason),
    )


def _history() -> rx.Component:
    return rx.box(
        table_section(
            "History of changes",
            ("When", "Setting", "Who", "Old → new", "Reason"),
            SettingsPageState.history,
            _history_row,
            empty="No changes yet.",
            table_id="settings-history",
        ),
        rx.cond(
            SettingsPageState.more_history,
            rx.button(
                "Older changes",
                type="button",
                variant="soft",
                on_click=SettingsPageState.older_history,
                margin_top="0.5rem",
            ),
        ),
    )


def _who_may_change() -> rx.Component:
    return rx.cond(
        IS_ADMIN,
        rx.fragment(),
        rx.callout.root(
            rx.callout.text(
                "You can view these settings, but only an admin can change them (you are ",
                rx.cond(AuthState.role, AuthState.role, "not signed in"),
                ").",
            ),
            color_scheme="gray",
            high_contrast=True,
            id="settings-read-only",
        ),
    )


def page() -> rx.Component:
    return frame(
        rx.vstack(
            rx.heading("Settings", as_="h1", size="6"),
            _who_may_change(),
            _notice(),
            _cap_section(),
            _alerts_section(),
            _history(),
            spacing="5",
            width="100%",
        ),
        poller(
            interval_ms=rx.cond(VIEW.parallel_applied_at, 0, WAITING_POLL_MS),
            on_tick=SettingsPageState.refresh,
        ),
    )
