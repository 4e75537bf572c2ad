"""Upserts the declared jobs into dw_etl_jobs and dw_etl_job_dependencies (`jobs sync`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, text
from sqlmodel import Session, col, select

from etl_orchestrator.cron import next_fire_times
from etl_orchestrator.db import is_sqlite
from etl_orchestrator.jobs.registry import DeclarationProblems, validate
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.models import Job, JobDependency
from etl_orchestrator.services import audit
from etl_orchestrator.timeutil import as_utc

#: pg_advisory_xact_lock key: two `jobs sync` at once (say, two services starting) take turns.
_SYNC_LOCK_KEY = 0x45544C53594E43
#: Column widths of dw_etl_jobs that a declaration can exceed.
_MAX_LENGTHS = {"name": 256, "entrypoint": 512, "cron": 128, "timezone": 64, "domain": 64}


@dataclass
class SyncReport:
    """Job ids by what the sync did to them."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: Jobs no longer declared in code: disabled, their history kept.
    disabled: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.disabled)} disabled (no longer declared)"
        )


def _config(spec: JobSpec) -> dict[str, Any]:
    """What the console shows of a job beyond its columns: a SQL job's SQL, and where its
    attempts run when that is not a fresh process (the default leaves existing rows as they were).
    """
    config: dict[str, Any] = {"sql": spec.sql} if spec.kind == "sql" else {}
    if spec.isolation != "process":
        config["isolation"] = spec.isolation
    return config


def _columns(spec: JobSpec) -> dict[str, Any]:
    """The dw_etl_jobs columns that come straight from the declaration."""
    retry = spec.retry
    return {
        "name": spec.name,
        "description": spec.description,
        "kind": spec.kind,
        "entrypoint": spec.entrypoint,
        "config": _config(spec),
        "cron": spec.cron,
        "timezone": spec.timezone,
        "priority": spec.priority,
        "tags": list(spec.tags),
        "domain": spec.domain,
        "params_schema": spec.params_schema(),
        "max_attempts": retry.max_attempts,
        "backoff_base_s": retry.base_s,
        "backoff_factor": retry.factor,
        "backoff_max_s": retry.max_s,
        "backoff_jitter": retry.jitter,
        "timeout_s": spec.timeout_s,
        "wait_timeout_s": spec.wait_timeout_s,
        "catchup": spec.catchup,
        "reads": list(spec.reads),
        "writes": list(spec.writes),
        "supports_dry_run": spec.supports_dry_run,
    }


def _check(specs: Mapping[str, JobSpec]) -> dict[str, dict[str, Any]]:
    """Validate everything, then build each job's columns; raise before anything is written."""
    validate(specs.values())
    problems: list[str] = []
    columns: dict[str, dict[str, Any]] = {}
    for key, spec in specs.items():
        if key != spec.id:
            problems.append(f"job {spec.id!r} is registered under another id, {key!r}")
            continue
        columns[key] = _columns(spec)
        for column, limit in _MAX_LENGTHS.items():
            value = columns[key][column]
            if value is not None and len(value) > limit:
                problems.append(f"job {spec.id!r}: {column} is longer than {limit} characters")
    if problems:
        raise DeclarationProblems(problems)
    return columns


def _next_run(spec: JobSpec, enabled: bool, row: Job | None, now: datetime) -> datetime | None:
    """The next cron tick, or the row's pending one when the schedule did not change.

    Keeping a pending tick that is already past lets the scheduler still fire (or catch up)
    the tick it missed while nothing was running, instead of a restart silently skipping it.
    """
    if spec.cron is None or not enabled:
        return None
    if (
        row is not None
        and row.declared
        and row.enabled
        and row.next_run_at is not None
        and row.cron == spec.cron
        and row.timezone == spec.timezone
    ):
        return row.next_run_at
    return next_fire_times(spec.cron, spec.timezone, now, count=1)[0]


def _lock(session: Session) -> None:
    # SQLite transactions here start with BEGIN IMMEDIATE, which already serialises writers.
    if not is_sqlite(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SYNC_LOCK_KEY})


def sync_jobs(
    session: Session,
    specs: Mapping[str, JobSpec],
    *,
    now: datetime,
    actor: str = "system",
) -> SyncReport:
    """Make the job tables match the declarations, in the caller's transaction; audited.

    - Everything is validated first (DeclarationProblems); if anything is wrong, nothing is
      written.
    - A job seen for the first time takes `enabled` from the code. After that, `enabled` belongs
      to the admins (console or CLI): a sync never flips it, so a job disabled in production
      stays disabled when code is deployed. A job that had disappeared and comes back is treated
      as new and takes `enabled` from the code again.
    - Jobs in the database that are no longer declared get enabled=False, declared=False and no
      next run; their rows and run history are kept, only their dependency edges are removed.
    - next_run_at is the next cron tick after `now` for enabled cron jobs (None otherwise); a
      pending tick is kept while the job's cron and timezone stay the same.
    - Each synced job's dependency rows are replaced by its declared `depends_on`.
    """
    columns = _check(specs)
    now = as_utc(now)
    _lock(session)
    rows = {row.job_id: row for row in session.exec(select(Job)).all()}
    existing_deps: dict[str, set[tuple[str, str]]] = {}
    for edge in session.exec(select(JobDependency)).all():
        existing_deps.setdefault(edge.job_id, set()).add((edge.upstream_job_id, edge.dep_type))
    report = SyncReport()

    for job_id in sorted(specs):
        spec, values, row = specs[job_id], columns[job_id], rows.get(job_id)
        enabled = spec.enabled if row is None or not row.declared else row.enabled
        values.update(
            enabled=enabled, declared=True, next_run_at=_next_run(spec, enabled, row, now)
        )
        wanted_deps = {(dep.job_id, dep.type) for dep in spec.depends_on}
        if row is None:
            session.add(Job(job_id=job_id, created_at=now, updated_at=now, **values))
            report.created.append(job_id)
        elif (
            any(getattr(row, name) != value for name, value in values.items())
            or existing_deps.get(job_id, set()) != wanted_deps
        ):
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            session.add(row)
            report.updated.append(job_id)
        else:
            report.unchanged.append(job_id)

    for job_id in sorted(set(rows) - set(specs)):
        row = rows[job_id]
        if row.declared or row.enabled or row.next_run_at is not None:
            row.enabled, row.declared, row.next_run_at, row.updated_at = False, False, None, now
            session.add(row)
            report.disabled.append(job_id)
    session.flush()  # job rows exist before the dependency rows that point at them

    stale = [job_id for job_id in rows if job_id not in specs and job_id in existing_deps]
    changed = report.created + report.updated
    if stale or changed:
        session.execute(delete(JobDependency).where(col(JobDependency.job_id).in_(stale + changed)))
    for job_id in changed:
        for dep in specs[job_id].depends_on:
            session.add(JobDependency(job_id=job_id, upstream_job_id=dep.job_id, dep_type=dep.type))
    audit.record(
        session,
        actor=actor,
        action="jobs.sync",
        target=f"{len(specs)} declared jobs",
        params={
            "created": report.created,
            "updated": report.updated,
            "disabled": report.disabled,
        },
        detail=report.summary(),
    )
    session.flush()
    return report
