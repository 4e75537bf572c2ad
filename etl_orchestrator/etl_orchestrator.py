"""The console app: pages, plain HTTP routes, the sign-in gate and the live-update task."""

from __future__ import annotations

import reflex as rx
from starlette.applications import Starlette

from etl_orchestrator import events
from etl_orchestrator.ui.live_sink import ReflexSink
from etl_orchestrator.ui.pages import (
    alerts,
    audit,
    dag,
    freshness,
    home,
    job,
    jobs,
    metrics,
    run,
    settings,
    signin,
    status,
)
from etl_orchestrator.web import (
    api,
    audit_routes,
    auth_routes,
    dag_route,
    log_routes,
    metrics_route,
)
from etl_orchestrator.web.gate import SessionGate
from etl_orchestrator.web.live import run_updater

TITLE = "ETL Orchestrator"

# Runs triggered from the console must wake the dispatcher and the live views.
events.install()


async def live_updates(app: rx.App) -> None:
    """One per backend worker; the consumer group shares the events out between them."""
    await run_updater(ReflexSink(app))


app = rx.App(
    stylesheets=["/console.css", "/log_view.css"],
    # The Starlette app's routes come first; SessionGate then wraps everything it serves.
    api_transformer=[
        Starlette(
            routes=[
                *auth_routes.routes,
                *api.routes,
                *audit_routes.routes,
                *dag_route.routes,
                *log_routes.routes,
                *metrics_route.routes,
            ]
        ),
        SessionGate,
    ],
)
app.add_page(signin.page, route="/signin", title=f"Sign in · {TITLE}")
app.add_page(home.page, route="/", title=f"Overview · {TITLE}", on_load=home.OverviewState.load)
app.add_page(run.page, route="/runs/[run_id]", title=f"Run · {TITLE}", on_load=run.load)
app.add_page(jobs.page, route="/jobs", title=f"Jobs · {TITLE}", on_load=jobs.JobsState.load)
app.add_page(
    job.page, route="/jobs/[job_id]", title=f"Job · {TITLE}", on_load=job.JobPageState.load
)
app.add_page(
    freshness.page,
    route="/freshness",
    title=f"Data freshness · {TITLE}",
    on_load=freshness.FreshnessState.load,
)
app.add_page(
    settings.page,
    route="/settings",
    title=f"Settings · {TITLE}",
    on_load=settings.SettingsPageState.load,
)
app.add_page(
    audit.page, route="/audit", title=f"Audit · {TITLE}", on_load=audit.AuditPageState.load
)
app.add_page(
    status.page, route="/status", title=f"Status · {TITLE}", on_load=status.StatusPageState.load
)
app.add_page(dag.page, route="/dag", title=f"Pipeline · {TITLE}", on_load=dag.DagPageState.load)
app.add_page(
    dag.page,
    route="/dag/[job_id]",
    title=f"Dependencies · {TITLE}",
    on_load=dag.DagPageState.load,
)
app.add_page(
    alerts.page, route="/alerts", title=f"Alerts · {TITLE}", on_load=alerts.AlertsState.load
)
app.add_page(
    metrics.page,
    route="/metrics-overview",
    title=f"Metrics · {TITLE}",
    on_load=metrics.MetricsPageState.load,
)
app.register_lifespan_task(live_updates)
