"""Reflex configuration for the console (the app is etl_orchestrator/etl_orchestrator.py)."""

import reflex as rx

config = rx.Config(
    app_name="etl_orchestrator",
    show_built_with_reflex=False,
    telemetry_enabled=False,
    disable_plugins=[rx.plugins.SitemapPlugin],
)
