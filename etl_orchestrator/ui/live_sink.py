"""Puts refreshed views into the shared states of the running app (the live task's ViewSink)."""

from __future__ import annotations

import asyncio
import time

import reflex as rx

from etl_orchestrator.alerts import queries as alert_queries
from etl_orchestrator.db import session_scope
from etl_orchestrator.services import job_queries, settings
from etl_orchestrator.ui.state import (
    DAG_TOKEN,
    JOBS_TOKEN,
    LIVE_TOKEN,
    DagFeed,
    JobsFeed,
    LiveFeed,
    RunFeed,
    read_dag_statuses,
    run_token,
)
from etl_orchestrator.web import jobs_view, snapshots
from etl_orchestrator.web.health import current_health
from etl_orchestrator.web.live import Changes


def _overview() -> snapshots.Overview:
    with session_scope() as session:
        return snapshots.overview(session)


def _with_requesters(notices: list[dict[str, str]]) -> list[dict[str, str]]:
    """The notices, each with the user who asked for its run (a toast of their own)."""
    if not notices:
        return []
    with session_scope() as session:
        who = snapshots.requesters(session, {int(n["run_id"]) for n in notices})
    return [{**n, "requested_by": who.get(int(n["run_id"]), "")} for n in notices]


def _alerts_visible() -> bool:
    with session_scope() as session:
        return settings.alerts_visible(session)


def _open_systemic() -> list[str]:
    with session_scope() as session:
        return alert_queries.open_systemic(session)


def _run(run_id: int) -> snapshots.RunSummary:
    with session_scope() as session:
        return snapshots.run_summary(session, run_id)


def _jobs(job_ids: set[str]) -> dict[str, dict[str, str]]:
    at = jobs_view.now_ms()  # taken before the read: a table read after it is at least as new
    with session_scope() as session:
        found = job_queries.activity(session, sorted(job_ids))
    return {job_id: jobs_view.live_fields(a, at) for job_id, a in found.items()}


class ReflexSink:
    """Writes to LiveFeed (token LIVE_TOKEN), RunFeed (run_token(id)), DagFeed (DAG_TOKEN) and
    JobsFeed (JOBS_TOKEN); Reflex then pushes the change to every client linked to that token,
    on whichever worker holds its socket."""

    def __init__(self, app: rx.App) -> None:
        self._app = app

    async def overview(self, changes: Changes) -> None:
        overview = await asyncio.to_thread(_overview)
        notices = await asyncio.to_thread(_with_requesters, changes.notices)
        failures = changes.failures
        if failures and not await asyncio.to_thread(_alerts_visible):
            failures = []  # an Admin hid failure alerts in the console (they are still sent)
        token = rx.BaseStateToken(ident=LIVE_TOKEN, cls=LiveFeed)
        async with self._app.modify_state(token) as root:
            feed = await root.get_state(LiveFeed)
            feed._apply_overview(overview, changes.announcement())
            feed._add_toasts(failures, time.time(), notices)

    async def run(self, run_id: int) -> None:
        summary = await asyncio.to_thread(_run, run_id)
        token = rx.BaseStateToken(ident=run_token(run_id), cls=RunFeed)
        async with self._app.modify_state(token) as root:
            feed = await root.get_state(RunFeed)
            feed._apply(summary)

    async def dag(self) -> None:
        statuses, blocked = await asyncio.to_thread(read_dag_statuses)
        token = rx.BaseStateToken(ident=DAG_TOKEN, cls=DagFeed)
        async with self._app.modify_state(token) as root:
            feed = await root.get_state(DagFeed)
            feed._apply(statuses, blocked)

    async def jobs(self, job_ids: set[str]) -> None:
        fields = await asyncio.to_thread(_jobs, job_ids)
        token = rx.BaseStateToken(ident=JOBS_TOKEN, cls=JobsFeed)
        async with self._app.modify_state(token) as root:
            feed = await root.get_state(JobsFeed)
            feed._apply(fields)

    async def periodic(self) -> None:
        overview = await asyncio.to_thread(_overview)
        health = await current_health()
        systemic = await asyncio.to_thread(_open_systemic)
        token = rx.BaseStateToken(ident=LIVE_TOKEN, cls=LiveFeed)
        async with self._app.modify_state(token) as root:
            feed = await root.get_state(LiveFeed)
            feed._apply_overview(overview)
            feed._add_toasts([], time.time())
            feed._apply_health(health)
            feed._apply_alerts(systemic)
