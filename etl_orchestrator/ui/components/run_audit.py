"""One run's audit entries (who did what to it, when and why), for the run page and drawer.

`entries` is a list var of services.audit_queries.AuditRow, filled with
`audit_queries.audit_for_run(session, run_id)` by the page's own state.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from typing import Any

import reflex as rx

from etl_orchestrator.ui.components.timestamp import timestamp

#: Outcome words with a colour each; the word is always shown.
OUTCOME_COLOURS = (("ok", "grass"), ("refused", "red"), ("error", "orange"))


def outcome_badge(outcome: Any) -> rx.Component:
    return rx.badge(
        outcome,
        color_scheme=rx.match(outcome, *OUTCOME_COLOURS, "gray"),
        variant="soft",
        high_contrast=True,
    )


def _entry(entry: Any) -> rx.Component:
    return rx.el.li(
        rx.flex(
            timestamp(entry.ts),
            rx.text(entry.actor, weight="bold", as_="span"),
            rx.code(entry.action),
            outcome_badge(entry.outcome),
            wrap="wrap",
            spacing="2",
            align="center",
        ),
        rx.cond(entry.reason, rx.text("Reason: ", entry.reason, size="2")),
        rx.cond(entry.detail, rx.text(entry.detail, size="1", color_scheme="gray")),
        style={"padding": "0.5rem 0", "border_bottom": "1px solid var(--gray-5)"},
    )


def run_audit(entries: Any) -> rx.Component:
    return rx.el.section(
        rx.heading("Audit", as_="h2", size="4"),
        rx.cond(
            entries.length() > 0,
            rx.el.ul(rx.foreach(entries, _entry), style={"list_style": "none", "padding": "0"}),
            rx.text("No manual actions on this run.", color_scheme="gray"),
        ),
        id="run-audit",
    )
