"""A run status as a word and a colour (the word is always there, for colour-blind readers)."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import reflex as rx

#: Colours from Radix's palette; soft + high contrast passes WCAG AA in light and dark.
STATUS_COLOURS = (
    ("succeeded", "grass"),
    ("failed", "red"),
    ("upstream_failed", "orange"),
    ("cancelled", "gray"),
    ("running", "indigo"),
    ("dispatched", "cyan"),
    ("retrying", "amber"),
    ("queued", "gray"),
    ("waiting", "gray"),
)


def status_label(status: rx.Var[str]) -> rx.Var[str]:
    return status.to(str).replace("_", " ")


def status_badge(status: rx.Var[str]) -> rx.Component:
    colour = rx.match(status, *STATUS_COLOURS, "gray")
    return rx.badge(
        status_label(status),
        color_scheme=colour,
        variant="soft",
        high_contrast=True,
        class_name="etl-status",
    )
