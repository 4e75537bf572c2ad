"""The console app: pages, plain HTTP routes, the sign-in gate and the live-update task."""

from __future__ import annotations

import reflex as rx
from starlette.applications import Starlette

from etl_orchestrator import events
from etl_orchestrator.ui.live_sink import ReflexSink
from etl_orchestrator.ui.pages import home, metrics, run, signin
from etl_orchestrator.web import api, auth_routes, metrics_route
from etl_orchestrator.web.gate import SessionGate
from etl_orchestrator.web.live import run_updater

TITLE = "ETL Orchestrator"

# Runs triggered from the console must wake the dispatcher and the live views.
events.install()


async def live_updates(app: rx.App) -> None:
    """One per backend worker; the consumer group shares the events out between them."""
    await run_updater(ReflexSink(app))


app = rx.App(
    stylesheets=["/console.css"],
    # The Starlette app's routes come first; SessionGate then wraps everything it serves.
    api_transformer=[
        Starlette(routes=[*auth_routes.routes, *api.routes, *metrics_route.routes]),
        SessionGate,
    ],
)
app.add_page(signin.page, route="/signin", title=f"Sign in · {TITLE}")
app.add_page(home.page, route="/", title=f"Overview · {TITLE}", on_load=home.OverviewState.load)
app.add_page(
    run.page, route="/runs/[run_id]", title=f"Run · {TITLE}", on_load=run.RunPageState.load
)
app.add_page(
    metrics.page,
    route="/metrics-overview",
    title=f"Metrics · {TITLE}",
    on_load=metrics.MetricsPageState.load,
)
app.register_lifespan_task(live_updates)
