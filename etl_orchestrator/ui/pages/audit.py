"""Audit (/audit): every manual action, filtered by user, action, target and time, page by page.

Operators and admins may read it (it names people and their reasons); the role is re-read from
the database on every query. Pages are keyset pages of the audit, newest first; the page holds
one page at a time, and "Export CSV" streams every matching row from /api/audit.csv.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.db import session_scope
from etl_orchestrator.services import audit_queries
from etl_orchestrator.ui.components.run_audit import outcome_badge
from etl_orchestrator.ui.components.table_section import table_section
from etl_orchestrator.ui.components.timestamp import timestamp
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import AuthState, join_live, signed_in, signin_redirect
from etl_orchestrator.web.actions import allows
from etl_orchestrator.web.audit_routes import AUDIT_READER

FILTER_FIELDS = ("actor", "action", "target", "since", "until")


class AuditPageState(rx.State):
    rows: rx.Field[list[audit_queries.AuditRow]] = rx.field(default_factory=list)
    actions: rx.Field[list[str]] = rx.field(default_factory=list)
    allowed: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")
    #: The filters in use (form values), and the export link's query string for them.
    filters: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    export_query: rx.Field[str] = rx.field("")
    page_number: rx.Field[int] = rx.field(1)
    has_older: rx.Field[bool] = rx.field(False)
    #: Cursors of the pages shown so far (the first page's is ""), for "Newer".
    _cursors: list[str] = []
    _next_cursor: str = ""

    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        who = auth._refresh()
        if who is None:
            return signin_redirect(self)
        await join_live(self)
        self.allowed = allows(who.role, AUDIT_READER)
        self.error = ""
        if not self.allowed:
            self.rows = []
            return None
        with session_scope() as session:
            self.actions = audit_queries.known_actions(session)
        query = self.router.url.query_parameters
        self._show({name: str(query.get(name) or "") for name in FILTER_FIELDS}, cursors=[""])
        return None

    def _show(self, fields: dict[str, str], *, cursors: list[str]) -> EventSpec | None:
        """Read the page at cursors[-1] for `fields`, after checking the reader's role again."""
        who = signed_in(self)
        if who is None:
            return signin_redirect(self)
        self.allowed = allows(who.role, AUDIT_READER)
        if not self.allowed:
            self.rows, self.error = [], f"Reading the audit needs the {AUDIT_READER} role."
            return None
        try:
            parsed = audit_queries.parse_filter(fields)
            with session_scope() as session:
                page = audit_queries.audit_page(session, parsed, cursor=cursors[-1])
        except audit_queries.AuditQueryError as error:
            self.error = f"{error}."
            return None
        self.error = ""
        self.filters = {name: fields.get(name, "") for name in FILTER_FIELDS}
        self.export_query = audit_queries.filter_query(parsed)
        self.rows = page.rows
        self._cursors = cursors
        self._next_cursor = page.next_cursor
        self.has_older = bool(page.next_cursor)
        self.page_number = len(cursors)
        return None

    def apply(self, form: dict[str, Any]) -> EventSpec | None:
        return self._show({name: str(form.get(name) or "") for name in FILTER_FIELDS}, cursors=[""])

    def clear(self) -> EventSpec | None:
        return self._show({}, cursors=[""])

    def older(self) -> EventSpec | None:
        if not self._next_cursor:
            return None
        return self._show(self.filters, cursors=[*self._cursors, self._next_cursor])

    def newer(self) -> EventSpec | None:
        if len(self._cursors) <= 1:
            return None
        return self._show(self.filters, cursors=self._cursors[:-1])


def _input(label: str, name: str, placeholder: str = "", **props: Any) -> rx.Component:
    field_id = f"audit-{name}"
    return rx.vstack(
        rx.el.label(label, html_for=field_id, class_name="etl-label"),
        rx.input(
            id=field_id,
            name=name,
            placeholder=placeholder,
            **props,
        ),
        spacing="1",
        min_width="10rem",
        flex="1 1 10rem",
    )


def _filters() -> rx.Component:
    return rx.form(
        rx.flex(
            _input("User", "actor", "e.g. ann"),
            rx.vstack(
                rx.el.label("Action", html_for="audit-action", class_name="etl-label"),
                rx.el.select(
                    rx.el.option("Any action", value=""),
                    rx.foreach(AuditPageState.actions, lambda a: rx.el.option(a, value=a)),
                    id="audit-action",
                    name="action",
                    class_name="etl-select",
                    style={"min_width": "0", "width": "100%"},
                ),
                spacing="1",
                flex="1 1 10rem",
            ),
            _input("Job or run", "target", "e.g. fct_sales or run 42"),
            _input("From (UTC)", "since", "2026-05-01 or 2026-05-01T14:00"),
            _input("Until (UTC)", "until", "2026-05-02"),
            rx.flex(
                rx.button("Filter", type="submit", id="audit-apply"),
                rx.button(
                    "Clear",
                    type="reset",
                    variant="soft",
                    color_scheme="gray",
                    on_click=AuditPageState.clear,
                ),
                spacing="2",
                align="end",
            ),
            wrap="wrap",
            spacing="3",
            align="end",
        ),
        on_submit=AuditPageState.apply,
        id="audit-filters",
        aria_label="Filter the audit",
    )


def _row(row: Any) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(timestamp(row.ts)),
        rx.table.cell(
            row.actor, rx.cond(row.role, rx.text(row.role, size="1", color_scheme="gray"))
        ),
        rx.table.cell(rx.code(row.action)),
        rx.table.cell(
            rx.cond(
                row.run_id > 0,
                rx.link(rx.cond(row.target, row.target, "run"), href=f"/runs/{row.run_id}"),
                row.target,
            )
        ),
        rx.table.cell(outcome_badge(row.outcome)),
        rx.table.cell(row.reason),
        rx.table.cell(
            rx.text(row.detail, size="1"),
            rx.cond(
                row.params != "{}", rx.code(row.params, size="1", style={"word_break": "break-all"})
            ),
            min_width="12rem",
        ),
        data_action=row.action,
        data_actor=row.actor,
    )


def _pager() -> rx.Component:
    return rx.flex(
        rx.button(
            "Newer",
            type="button",
            variant="soft",
            disabled=AuditPageState.page_number <= 1,
            on_click=AuditPageState.newer,
            id="audit-newer",
        ),
        rx.text("Page ", AuditPageState.page_number, size="2", id="audit-page"),
        rx.button(
            "Older",
            type="button",
            variant="soft",
            disabled=~AuditPageState.has_older,
            on_click=AuditPageState.older,
            id="audit-older",
        ),
        rx.spacer(),
        rx.link(
            rx.icon("download", size=16, aria_hidden="true"),
            " Export CSV (all matching entries)",
            href="/api/audit.csv?" + AuditPageState.export_query,
            id="audit-export",
            download=True,
        ),
        spacing="3",
        align="center",
        wrap="wrap",
    )


def _content() -> rx.Component:
    return rx.vstack(
        _filters(),
        rx.cond(
            AuditPageState.error,
            rx.callout.root(
                rx.callout.text(AuditPageState.error),
                color_scheme="red",
                high_contrast=True,
                role="alert",
                id="audit-error",
            ),
        ),
        _pager(),
        table_section(
            "Entries (newest first)",
            ("When (UTC)", "User", "Action", "Target", "Outcome", "Reason", "Details"),
            AuditPageState.rows,
            _row,
            empty="No audit entries match these filters.",
            table_id="audit-table",
        ),
        spacing="4",
        width="100%",
    )


def page() -> rx.Component:
    return frame(
        rx.vstack(
            rx.heading("Audit", as_="h1", size="6"),
            rx.text(
                "Every manual action: runs, dry-runs, reruns, retries, cancels, settings "
                "changes, sign-ins and refusals.",
                size="2",
            ),
            rx.cond(
                AuditPageState.allowed,
                _content(),
                rx.cond(
                    AuthState.role,
                    rx.callout.root(
                        rx.callout.text(
                            f"Reading the audit needs the {AUDIT_READER} role; you are ",
                            AuthState.role,
                            ". Ask an admin if you need it.",
                        ),
                        color_scheme="gray",
                        high_contrast=True,
                        id="audit-refused",
                    ),
                ),
            ),
            spacing="4",
            width="100%",
        ),
    )
