"""A titled section holding a table that scrolls inside itself, or a line saying it is empty."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import reflex as rx


def table_section(
    title: str,
    headers: Sequence[str],
    rows: Any,
    render_row: Callable[[Any], rx.Component],
    *,
    empty: str,
    table_id: str | None = None,
) -> rx.Component:
    """`rows` is a list var; the scrolling box is a focusable region so keyboards can scroll it."""
    table_props: dict[str, Any] = {"size": "1", "variant": "surface"}
    if table_id is not None:
        table_props["id"] = table_id
    section: rx.Component = rx.el.section(
        rx.heading(title, as_="h2", size="4"),
        rx.cond(
            rows.length() > 0,
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(*(rx.table.column_header_cell(name) for name in headers))
                    ),
                    rx.table.body(rx.foreach(rows, render_row)),
                    **table_props,
                ),
                class_name="etl-scroll",
                tab_index=0,
                role="region",
                aria_label=title,
            ),
            rx.text(empty, color_scheme="gray"),
        ),
    )
    return section
