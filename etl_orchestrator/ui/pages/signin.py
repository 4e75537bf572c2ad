"""The sign-in page: a native form posting to /auth/login, with the reason a sign-in failed."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import reflex as rx

from etl_orchestrator.ui.components.native_form import native_form
from etl_orchestrator.ui.layout import APP_NAME, environment_badge
from etl_orchestrator.web.auth_routes import safe_next

#: /auth/login redirects here with ?error=<code>; the page, not the URL, holds the wording.
ERRORS = {
    "invalid": "Wrong user name or password. Check both and try again.",
    "missing": "Enter both your user name and your password.",
    "wait": "Too many failed sign-ins from here. Wait a minute, then try again.",
    "unavailable": (
        "Sign-in is unavailable: the database or Redis does not answer. Try again in a minute; "
        "if it goes on, an admin should check the server's log."
    ),
}


class SignInState(rx.State):
    @rx.var
    def error(self) -> str:
        return ERRORS.get(self.router.url.query_parameters.get("error", ""), "")

    @rx.var
    def next_path(self) -> str:
        return safe_next(self.router.url.query_parameters.get("next", "/"))

    @rx.var
    def signed_out(self) -> bool:
        return self.router.url.query_parameters.get("signed_out") == "1"


def _field(label: str, name: str, **props: object) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=name, class_name="etl-label"),
        rx.input(id=name, name=name, required=True, size="3", width="100%", **props),
        spacing="1",
        width="100%",
    )


def page() -> rx.Component:
    return rx.el.main(
        rx.center(
            rx.card(
                rx.vstack(
                    rx.hstack(
                        rx.heading("Sign in", as_="h1", size="6"),
                        environment_badge(),
                        justify="between",
                        align="center",
                        width="100%",
                    ),
                    rx.text(APP_NAME, color_scheme="gray", size="2"),
                    rx.cond(
                        SignInState.error,
                        rx.callout(
                            SignInState.error,
                            color_scheme="red",
                            high_contrast=True,
                            role="alert",
                            id="signin-error",
                            width="100%",
                        ),
                    ),
                    rx.cond(
                        SignInState.signed_out,
                        rx.callout("You are signed out.", high_contrast=True, width="100%"),
                    ),
                    native_form(
                        rx.vstack(
                            _field("User name", "username", auto_complete="username"),
                            _field(
                                "Password",
                                "password",
                                type="password",
                                auto_complete="current-password",
                            ),
                            rx.el.input(type="hidden", name="next", value=SignInState.next_path),
                            rx.button("Sign in", type="submit", size="3", width="100%"),
                            spacing="4",
                            width="100%",
                        ),
                        action="/auth/login",
                        width="100%",
                    ),
                    spacing="4",
                    width="100%",
                ),
                size="4",
                width="100%",
                max_width="26rem",
            ),
            min_height="100vh",
            padding="1rem",
        ),
        id="main",
    )
