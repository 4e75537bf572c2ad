"""The page frame: banner (environment, slot use, user, sign-out), health alert, toasts."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from etl_orchestrator.config import get_settings
from etl_orchestrator.ui.components.native_form import native_form
from etl_orchestrator.ui.components.poller import poller
from etl_orchestrator.ui.components.run_modal import run_modal
from etl_orchestrator.ui.state import AuthState, LiveControl, LiveFeed, ToastState

APP_NAME = "ETL Orchestrator"
#: Environment colours; the name is always written out too.
ENV_COLOURS = {"Prod": "red", "Stage": "amber", "Dev": "grass"}


def environment_badge() -> rx.Component:
    env = get_settings().etl_env
    return rx.badge(
        env,
        color_scheme=ENV_COLOURS[env],
        variant="solid",
        high_contrast=True,
        size="2",
        aria_label=f"Environment: {env}",
        id="etl-env",
    )


def _slots() -> rx.Component:
    return rx.text(
        LiveFeed.running,
        " / ",
        LiveFeed.cap,
        " running",
        size="2",
        title="Runs holding a slot / the parallel-jobs cap in use",
        id="etl-slots",
    )


def live_toggle() -> rx.Component:
    """Pause or resume auto-refresh; the name stays, aria-pressed and the text say the state."""
    return rx.hstack(
        rx.button(
            rx.icon(rx.cond(LiveControl.paused, "play", "pause"), aria_hidden="true"),
            "Pause live updates",
            type="button",
            size="1",
            variant=rx.cond(LiveControl.paused, "solid", "soft"),
            aria_pressed=rx.cond(LiveControl.paused, "true", "false"),
            on_click=LiveControl.toggle,
            id="etl-live-toggle",
        ),
        rx.text(
            rx.cond(LiveControl.paused, "Paused: this page is not updating", "Live"),
            size="1",
            id="etl-live-state",
        ),
        align="center",
        spacing="1",
    )


def _user() -> rx.Component:
    return rx.hstack(
        rx.text(
            rx.text(AuthState.username, weight="bold", as_="span"),
            " · ",
            AuthState.role,
            size="2",
            id="etl-user",
        ),
        native_form(
            rx.button("Sign out", type="submit", variant="soft", size="1"),
            action="/auth/logout",
        ),
        native_form(
            rx.el.input(type="hidden", name="everywhere", value="1"),
            rx.button("Sign out everywhere", type="submit", variant="outline", size="1"),
            action="/auth/logout",
        ),
        rx.color_mode.button(size="1", variant="ghost", aria_label="Switch light or dark mode"),
        align="center",
        wrap="wrap",
        spacing="2",
    )


#: The main navigation: (label, path). Settings is listed for everyone; its page says who may
#: change what (the server refuses the rest).
NAV = (
    ("Overview", "/"),
    ("Jobs", "/jobs"),
    ("Pipeline", "/dag/"),
    ("Metrics", "/metrics-overview"),
    ("Freshness", "/freshness"),
    ("Alerts", "/alerts"),
    ("Audit", "/audit"),
    ("Settings", "/settings"),
    ("Status", "/status"),
)


def _nav() -> rx.Component:
    return rx.el.nav(
        rx.flex(
            *(rx.link(label, href=path, size="2") for label, path in NAV),
            wrap="wrap",
            spacing="3",
        ),
        aria_label="Main",
    )


def banner() -> rx.Component:
    env = get_settings().etl_env
    return rx.el.header(
        rx.flex(
            rx.link(APP_NAME, href="/", weight="bold", size="3", underline="none"),
            environment_badge(),
            _slots(),
            live_toggle(),
            _nav(),
            rx.spacer(),
            _user(),
            align="center",
            wrap="wrap",
            spacing="3",
            class_name="etl-banner-row",
        ),
        class_name=f"etl-banner etl-env-{env.lower()}",
    )


def health_alert() -> rx.Component:
    return rx.cond(
        LiveFeed.health_degraded | (LiveFeed.alert_problems.length() > 0),
        rx.callout.root(
            rx.callout.icon(rx.icon("triangle_alert", aria_hidden="true")),
            rx.box(
                rx.callout.text("The system is degraded", weight="bold"),
                rx.el.ul(
                    rx.foreach(LiveFeed.health_problems, lambda p: rx.el.li(p)),
                    rx.foreach(LiveFeed.alert_problems, lambda p: rx.el.li(p)),
                    class_name="etl-problems",
                ),
                rx.hstack(
                    rx.button(
                        rx.icon("refresh_cw", aria_hidden="true"),
                        "Check again",
                        type="button",
                        size="1",
                        variant="outline",
                        color_scheme="gray",
                        high_contrast=True,
                        loading=LiveControl.checking,
                        on_click=LiveControl.check_health,
                        id="etl-health-retry",
                    ),
                    rx.text(LiveControl.health_note, size="1", id="etl-health-note"),
                    align="center",
                    spacing="2",
                    margin_top="0.5rem",
                ),
            ),
            color_scheme="red",
            high_contrast=True,
            role="alert",
            class_name="etl-health",
            id="etl-health-alert",
        ),
    )


def _toast_card(toast: Any) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.link(toast["text"], href="/runs/" + toast["run_id"], weight="medium"),
            rx.icon_button(
                rx.icon("x", aria_hidden="true"),
                size="1",
                variant="ghost",
                aria_label="Dismiss",
                # At class level a handler is Reflex's EventHandler; called, an EventSpec.
                on_click=ToastState.dismiss(toast["id"]),  # type: ignore[call-arg,func-returns-value]
            ),
            align="center",
            justify="between",
            spacing="3",
        ),
        class_name="etl-toast",
        data_status=toast["status"],
    )


def _toast(toast: Any) -> rx.Component:
    return rx.cond(ToastState.dismissed.contains(toast["id"]), rx.fragment(), _toast_card(toast))


#: Given a toast's run id (text), whether that run is on the page: the overview's latest runs,
#: or the run a run page shows.
InView = Callable[[Any], Any]


def _notice(toast: Any, in_view: InView | None) -> rx.Component:
    """Queued / started / completed: only for the user's own runs and the runs on screen."""
    shown = toast["requested_by"] == AuthState.username
    if in_view is not None:
        shown = shown | in_view(toast["run_id"])
    return rx.cond(
        shown & ~ToastState.dismissed.contains(toast["id"]), _toast_card(toast), rx.fragment()
    )


def toasts(in_view: InView | None = None) -> rx.Component:
    return rx.el.section(
        rx.foreach(LiveFeed.toasts, _toast),
        rx.foreach(LiveFeed.notices, lambda toast: _notice(toast, in_view)),
        aria_label="Run notifications",
        class_name="etl-toasts",
    )


def frame(
    *children: rx.Component,
    announce: rx.Var[str] | None = None,
    in_view: InView | None = None,
) -> rx.Component:
    """Every signed-in page: banner, alert, the page in <main>, toasts, a polite live region."""
    return rx.fragment(
        rx.el.a("Skip to content", href="#main", class_name="etl-skip"),
        banner(),
        health_alert(),
        rx.el.main(*children, id="main", class_name="etl-main"),
        toasts(in_view),
        # One run modal for every page: any page opens it with RunModalState.show(...).
        run_modal(),
        # The page's own refresh, in case pushed updates stop arriving; stopped while paused.
        poller(
            interval_ms=rx.cond(LiveControl.paused, 0, LiveControl.poll_ms),
            on_tick=LiveControl.poll,
        ),
        rx.el.div(
            announce if announce is not None else LiveFeed.announcement,
            role="status",
            aria_live="polite",
            class_name="etl-visually-hidden",
            id="etl-announcer",
        ),
    )
