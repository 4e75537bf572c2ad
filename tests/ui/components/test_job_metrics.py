"""The Metrics panel's state: lazy load, the source it names, fallback, sign-out and Retry."""

from __future__ import annotations

import pytest
import reflex as rx
from reflex.istate.data import RouterData

from etl_orchestrator import config
from etl_orchestrator.db import session_scope
from etl_orchestrator.observability.metrics_report import SOURCE_DATABASE, UNAVAILABLE
from etl_orchestrator.ui.components import job_metrics
from etl_orchestrator.ui.components.job_metrics import JobMetricsState, apply, fetch_report
from etl_orchestrator.web import sessions
from tests.observability.conftest import MakeRun
from tests.web.conftest import MakeUser


async def panel_as(username: str | None) -> JobMetricsState:
    cookie = ""
    if username is not None:
        with session_scope() as session:
            cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data({"headers": {"cookie": cookie}, "pathname": "/"})
    state = await root.get_state(JobMetricsState)
    assert isinstance(state, JobMetricsState)
    return state


async def test_load_only_names_the_job_and_starts_the_background_read():
    state = await panel_as(None)
    follow_up = state.load("load_sales")
    assert state.job_id == "load_sales"
    assert state.loading
    assert state.cards == []  # nothing is read until the background task runs
    assert "fetch" in str(follow_up)


async def test_without_prometheus_the_panel_shows_database_figures_and_says_so(
    make_user: MakeUser, finished_run: MakeRun, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    config.get_settings.cache_clear()
    make_user("viewer")
    finished_run("load_sales", records_written=240)
    finished_run("load_sales", "failed")
    state = await panel_as("viewer")
    report, error = fetch_report(state, "load_sales")
    assert error == ""
    assert report is not None
    apply(state, report)
    assert state.source == SOURCE_DATABASE
    assert state.notice.startswith(UNAVAILABLE)
    figures = {card.key: card.value for card in state.cards}
    assert figures["runs"] == "2"
    assert figures["failures"] == "1"
    assert figures["success_rate"] == "50.0 %"
    assert figures["throughput_per_h"] == "10.0 records/h"
    assert [spark.key for spark in state.sparks] == [
        "mean_duration_s",
        "success_rate",
        "throughput_per_h",
    ]


async def test_a_client_without_a_session_gets_no_figures(finished_run: MakeRun):
    finished_run("load_sales")
    state = await panel_as(None)
    report, error = fetch_report(state, "load_sales")
    assert report is None
    assert error == job_metrics.SIGNED_OUT


async def test_when_the_database_fails_the_panel_offers_retry(
    make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
):
    make_user("viewer")
    state = await panel_as("viewer")

    def broken(job_id: str | None) -> None:
        raise ConnectionError("database down")

    # The database itself cannot be stopped for one test: its read is replaced instead.
    monkeypatch.setattr(job_metrics, "read_report", broken)
    report, error = fetch_report(state, "load_sales")
    assert report is None
    assert error == job_metrics.FAILED
    state.error = error
    follow_up = state.retry()
    assert state.error == ""
    assert state.loading
    assert "fetch" in str(follow_up)
