"""A UTC timestamp whose tooltip gives the viewer's local time, computed in the browser."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars.function import FunctionStringVar

_UTC_TEXT: FunctionStringVar[Any] = FunctionStringVar.create(
    "((s) => s ? s.slice(0, 19).replace('T', ' ') + ' UTC' : '')"
)
_LOCAL_TEXT: FunctionStringVar[Any] = FunctionStringVar.create(
    "((s) => s ? 'Local time: ' + new Date(s).toLocaleString(undefined, {year: 'numeric', "
    "month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', "
    "timeZoneName: 'short'}) : '')"
)


def timestamp(value: rx.Var[str], *, empty: str = "—") -> rx.Component:
    """`value` is ISO 8601 UTC ("2024-05-01T12:00:00Z") or "" for a moment not reached yet."""
    return rx.cond(
        value,
        rx.tooltip(
            rx.el.time(
                _UTC_TEXT.call(value).to(str),
                date_time=value,
                tab_index=0,
                class_name="etl-time",
            ),
            content=_LOCAL_TEXT.call(value).to(str),
        ),
        rx.text(empty, as_="span"),
    )
