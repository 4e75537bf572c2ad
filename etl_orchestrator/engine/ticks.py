"""Cron ticks: create each due tick's batch exactly once, following the job's catch-up policy.

`dw_etl_jobs.next_run_at` is the job's pending tick (UTC; `jobs sync` computes it from the cron
in the job's IANA timezone). A tick pass takes every enabled, declared cron job whose pending
tick is due, triggers a batch per tick to fire (trigger 'schedule', downstream included,
`scheduled_for` = the tick) and moves `next_run_at` to the first tick after now. A cron job
with no pending tick at all (enabled again after being disabled) gets its next future tick.

Catch-up (`dw_etl_jobs.catchup`), for the ticks in [next_run_at, now] after downtime:

* ``latest`` (default): only the newest due tick fires; older missed ones are skipped;
* ``all``: every due tick fires, oldest first, at most the newest `catchup_cap` (50) of them;
* ``none``: a tick fires only while it is on time (at most `on_time_s`, 60 s, late); missed
  ticks are skipped and the job resumes at its next future tick.

A tick exists once however many schedulers see it: the partial unique index
uq_dw_etl_runs_tick (job_id, scheduled_for) WHERE trigger='schedule' refuses a second batch,
and each tick is tried in its own SAVEPOINT so a duplicate only rolls itself back. Scheduled
runs take the defaults of the job's params model (a cron job whose params have required
fields is refused when the jobs are declared); if the defaults still fail the model's checks,
its ticks are skipped with a warning and an audit row (action ``schedule.skip``, outcome
``refused``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from etl_orchestrator.cron import CronError, due_ticks, next_fire_times
from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.models import Job
from etl_orchestrator.services import audit
from etl_orchestrator.services.runs import TriggerError, trigger
from etl_orchestrator.timeutil import as_utc, iso

log = logging.getLogger(__name__)
CATCHUP_ALL_CAP = 50
ON_TIME_S = 60.0
#: Jobs handled per pass, so one pass stays a short transaction; the rest wait a pass.
JOBS_PER_PASS = 100
ACTOR = "scheduler"

Clock = Callable[[], datetime]


@dataclass
class TickResult:
    """What one pass did, as (job_id, tick) pairs."""

    created: list[tuple[str, datetime]] = field(default_factory=list)
    #: Ticks another scheduler (or an earlier pass) had already created.
    existing: list[tuple[str, datetime]] = field(default_factory=list)
    #: Ticks that could not be triggered, with the reason (also in the audit).
    refused: list[tuple[str, datetime, str]] = field(default_factory=list)


def ticks_to_fire(
    cron: str,
    timezone: str,
    *,
    pending: datetime,
    now: datetime,
    catchup: str,
    catchup_cap: int = CATCHUP_ALL_CAP,
    on_time_s: float = ON_TIME_S,
) -> list[datetime]:
    """The ticks in [pending, now] to fire, oldest first, by the catch-up policy."""
    # Ticks are whole minutes, so starting just before `pending` includes it and nothing older.
    since = as_utc(pending) - timedelta(microseconds=1)
    if catchup == "all":
        return due_ticks(cron, timezone, since, now, catchup_cap)
    latest = due_ticks(cron, timezone, since, now, 1)
    if catchup == "none":
        return [tick for tick in latest if (now - tick).total_seconds() <= on_time_s]
    return latest


def _due_jobs(session: Session, now: datetime) -> list[Job]:
    query = (
        select(Job)
        .where(
            col(Job.enabled),
            col(Job.declared),
            col(Job.cron).is_not(None),
            col(Job.next_run_at) <= now,
        )
        .order_by(col(Job.next_run_at), col(Job.job_id))
        .limit(JOBS_PER_PASS)
        # Two schedulers that both think they lead split the jobs instead of queueing on them.
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(query))


def _start_unscheduled(session: Session, now: datetime) -> None:
    """Give a cron job with no pending tick (say, enabled again by an admin) its next one."""
    jobs = session.exec(
        select(Job)
        .where(
            col(Job.enabled),
            col(Job.declared),
            col(Job.cron).is_not(None),
            col(Job.next_run_at).is_(None),
        )
        .limit(JOBS_PER_PASS)
        .with_for_update(skip_locked=True)
    )
    for job in jobs:
        assert job.cron is not None
        try:
            job.next_run_at = next_fire_times(job.cron, job.timezone, now, count=1)[0]
        except CronError as error:
            log.warning("job %s: cannot be scheduled: %s", job.job_id, error)
            continue
        session.add(job)


def _refuse(session: Session, job: Job, tick: datetime, reason: str, result: TickResult) -> None:
    log.warning("job %s: tick %s not scheduled: %s", job.job_id, iso(tick), reason)
    audit.record(
        session,
        actor=ACTOR,
        action="schedule.skip",
        target=job.job_id,
        params={"scheduled_for": iso(tick)},
        outcome="refused",
        detail=reason,
    )
    result.refused.append((job.job_id, tick, reason))


def _fire(
    session: Session,
    job: Job,
    tick: datetime,
    specs: Mapping[str, JobSpec] | None,
    result: TickResult,
) -> None:
    try:
        with session.begin_nested():
            trigger(
                session,
                job_id=job.job_id,
                trigger="schedule",
                scheduled_for=tick,
                downstream=True,
                requested_by=ACTOR,
                reason="cron tick",
                specs=specs,
                audit_action=None,
            )
    except IntegrityError:
        result.existing.append((job.job_id, tick))
    except TriggerError as error:
        _refuse(
            session,
            job,
            tick,
            f"{error} (a scheduled run uses the defaults of the job's params; "
            "give every parameter a default or remove the cron)",
            result,
        )
    else:
        result.created.append((job.job_id, tick))


def tick_pass(
    session: Session,
    *,
    now: datetime | None = None,
    specs: Mapping[str, JobSpec] | None = None,
    catchup_cap: int = CATCHUP_ALL_CAP,
    on_time_s: float = ON_TIME_S,
) -> TickResult:
    """Fire the due ticks of every cron job, in the caller's transaction.

    `now` defaults to the database clock; tests pass their own to walk through time.
    """
    now = as_utc(now) if now is not None else db_now(session)
    result = TickResult()
    _start_unscheduled(session, now)
    for job in _due_jobs(session, now):
        assert job.cron is not None
        assert job.next_run_at is not None
        try:
            ticks = ticks_to_fire(
                job.cron,
                job.timezone,
                pending=job.next_run_at,
                now=now,
                catchup=job.catchup,
                catchup_cap=catchup_cap,
                on_time_s=on_time_s,
            )
            next_run = next_fire_times(job.cron, job.timezone, now, count=1)[0]
        except CronError as error:
            _refuse(
                session, job, job.next_run_at, f"{error}; fix the job and run `jobs sync`", result
            )
            job.next_run_at = None
            session.add(job)
            continue
        if not ticks or ticks[0] > job.next_run_at:
            log.info(
                "job %s: missed ticks from %s skipped (catchup=%s)",
                job.job_id,
                iso(job.next_run_at),
                job.catchup,
            )
        for tick in ticks:
            _fire(session, job, tick, specs, result)
        job.next_run_at = next_run
        session.add(job)
    return result


def run_tick_pass(
    clock: Clock | None = None, specs: Mapping[str, JobSpec] | None = None
) -> TickResult:
    """One tick pass in its own transaction (for the scheduler loop)."""
    with session_scope() as session:
        return tick_pass(session, now=clock() if clock else None, specs=specs)
