"""A plain HTML <form> that the browser submits itself (rx.form always prevents that)."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from typing import ClassVar

import reflex as rx


class NativeForm(rx.Component):
    """<form method=post action=…>: a full page load, so the server can set HttpOnly cookies."""

    tag = "form"
    _is_tag_in_global_scope: ClassVar[bool] = True

    action: rx.Var[str]
    method: rx.Var[str]


def native_form(*children: rx.Component, action: str, **props: object) -> rx.Component:
    return NativeForm.create(*children, action=action, method="post", **props)
