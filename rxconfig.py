"""Reflex configuration for the console (the app is etl_orchestrator/etl_orchestrator.py)."""

from urllib.parse import urlsplit

import reflex as rx

from etl_orchestrator.config import get_settings

_settings = get_settings()
_base = urlsplit(_settings.base_url)
#: The only origin the browser may use: cookies, the websocket and sign-in all depend on it.
BASE_ORIGIN = f"{_base.scheme}://{_base.netloc}"

config = rx.Config(
    app_name="etl_orchestrator",
    show_built_with_reflex=False,
    telemetry_enabled=False,
    disable_plugins=[rx.plugins.SitemapPlugin],
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo"))],
    # The frontend reaches the backend where the browser reached the console (one port, or a
    # proxy in front of it); another host name would not carry the session cookie.
    api_url=BASE_ORIGIN,
    deploy_url=BASE_ORIGIN,
    cors_allowed_origins=[BASE_ORIGIN],
    # With Redis the state lives there and several backend workers share it; without it, one
    # worker keeps the state on disk (updates from outside a handler need a single worker then).
    redis_url=_settings.redis_url or None,
    # Events and state are sent over the websocket only; an HTTP fallback would skip the
    # origin check the websocket upgrade gets.
    transport="websocket",
)
