"""The engine's figures for /metrics, read from the database at scrape time.

One custom collector answers every scrape from the same truth the console uses: run totals by
job and status, attempts by error class, a duration histogram of succeeded runs, records written
(all as counters: totals since the first run, so a restart of any process resets nothing), and
the live gauges of the health check (queue depth, slots in use against the cap, scheduler
heartbeat age, live workers). Every web worker gives the same answer, so one scrape of any
worker is enough and no multiprocess registry is needed for these.

The `job_id` label is bounded: the first ETL_METRICS_MAX_JOBS jobs by id keep their own series, the
rest are summed under job_id="_other". Each process reuses what it read for ETL_METRICS_CACHE_S
seconds, so several Prometheus servers (or a retried scrape) cost one set of queries.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import and_, case, func, select
from sqlmodel import Session, col

from etl_orchestrator.config import get_settings
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, RunAttempt
from etl_orchestrator.observability import figures as f
from etl_orchestrator.observability.health import SCHEDULER_STALE_S, Health, check_health
from etl_orchestrator.states import RunStatus

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the run duration histogram's buckets; +Inf is added.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
DRY = ("false", "true")
OPEN_STATUSES = tuple(s.value for s in RunStatus if s.value not in f.FINAL_STATUSES)
#: The newest runs are always read again (see settled_below).
SETTLE_MARGIN = 1000


def _dry(value: object) -> str:
    return "true" if value else "false"


@dataclass
class Snapshot:
    """Every figure of one scrape, already folded to the bounded job labels."""

    jobs: list[str] = field(default_factory=list)
    finished: dict[tuple[str, str, str], int] = field(default_factory=dict)
    started: dict[tuple[str, str], int] = field(default_factory=dict)
    attempts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    #: job -> (cumulative count per bucket of DURATION_BUCKETS, sum, count)
    durations: dict[str, tuple[list[int], float, int]] = field(default_factory=dict)
    read_s: float = 0.0


def job_labels(session: Session, max_jobs: int) -> tuple[list[str], bool]:
    """The jobs that keep their own label (first `max_jobs` by id) and whether any are folded.

    By id, not by activity, so a job's series never flips between its name and "_other"."""
    ids = list(
        session.exec(
            select(col(Job.job_id)).order_by(col(Job.job_id)).limit(max_jobs + 1)  # type: ignore[call-overload]
        ).scalars()
    )
    return ids[:max_jobs], len(ids) > max_jobs


RunKey = tuple[str, str, bool]
AttemptKey = tuple[str, bool, str]


@dataclass
class RunTotals:
    count: int = 0
    started: int = 0
    records: int = 0
    duration: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))

    def add(self, other: RunTotals) -> None:
        self.count += other.count
        self.started += other.started
        self.records += other.records
        self.duration += other.duration
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]


@dataclass
class Totals:
    """Raw totals of a range of runs, by job id (before the job labels are bounded)."""

    runs: dict[RunKey, RunTotals] = field(default_factory=dict)
    attempts: dict[AttemptKey, int] = field(default_factory=dict)

    def add(self, other: Totals) -> None:
        for key, value in other.runs.items():
            self.runs.setdefault(key, RunTotals()).add(value)
        for akey, count in other.attempts.items():
            self.attempts[akey] = self.attempts.get(akey, 0) + count


def read_totals(session: Session, low: int, high: int | None) -> Totals:
    """Totals of runs with `low <= run_id < high` (no upper bound when None): one pass over
    those runs and one over their attempts, both by primary-key range."""
    totals = Totals()
    run_range = [col(Run.run_id) >= low]
    attempt_range = [col(RunAttempt.run_id) >= low]
    if high is not None:
        run_range.append(col(Run.run_id) < high)
        attempt_range.append(col(RunAttempt.run_id) < high)
    good = and_(col(Run.status) == "succeeded", col(Run.dry_run).is_(False))
    bucket_columns = [
        func.sum(case((and_(good, col(Run.duration_s) <= bound), 1), else_=0))
        for bound in DURATION_BUCKETS
    ]
    rows = session.execute(
        select(
            col(Run.job_id),
            col(Run.status),
            col(Run.dry_run),
            func.count(),
            func.count(col(Run.started_at)),
            func.coalesce(func.sum(col(Run.records_written)), 0),
            func.coalesce(func.sum(col(Run.duration_s)), 0.0),
            *bucket_columns,
        )
        .where(*run_range)
        .group_by(col(Run.job_id), col(Run.status), col(Run.dry_run))
    )
    for job_id, status, dry_run, count, started, records, duration, *buckets in rows:
        totals.runs[(str(job_id), str(status), bool(dry_run))] = RunTotals(
            count=int(count),
            started=int(started),
            records=int(records),
            duration=float(duration),
            buckets=[int(b or 0) for b in buckets],
        )
    attempt_rows = session.execute(
        select(col(Run.job_id), col(Run.dry_run), col(RunAttempt.error_class), func.count())
        .select_from(RunAttempt)
        .join(Run, col(Run.run_id) == col(RunAttempt.run_id))
        .where(col(RunAttempt.outcome).is_not(None), *attempt_range)
        .group_by(col(Run.job_id), col(Run.dry_run), col(RunAttempt.error_class))
    )
    for job_id, dry_run, error_class, count in attempt_rows:
        key = (str(job_id), bool(dry_run), str(error_class or "none"))
        totals.attempts[key] = totals.attempts.get(key, 0) + int(count)
    return totals


def settled_below(session: Session) -> int:
    """Every run with a smaller id is final, so its figures never change again: the oldest
    unfinished run's id, and at most SETTLE_MARGIN ids below the newest run. (Final states have
    no way out and ids only grow; the margin covers a run whose inserting transaction took its
    id but has not committed yet.) Cheap: unfinished runs are few and indexed by status."""
    newest = session.execute(select(func.max(col(Run.run_id)))).scalar_one()
    below = int(newest or 0) + 1 - SETTLE_MARGIN
    oldest_open = session.execute(
        # IN (the few open statuses), not NOT IN (final): that one the status index serves.
        select(func.min(col(Run.run_id))).where(col(Run.status).in_(OPEN_STATUSES))
    ).scalar_one()
    if oldest_open is not None:
        below = min(below, int(oldest_open))
    return max(below, 0)


def fold(totals: Totals, named: list[str], folded: bool) -> Snapshot:
    """Raw totals as the exported series: bounded job labels, zeros for every label."""
    keep = set(named)
    jobs = [*named, f.OTHER_JOB] if folded else named
    snap = Snapshot(jobs=jobs)

    def label(job_id: str) -> str:
        return job_id if job_id in keep else f.OTHER_JOB

    # Zero series for every label, so a counter exists before its first increment (a series
    # that appears at 1 would be missed by the window figures).
    for job in jobs:
        snap.records[job] = 0
        snap.durations[job] = ([0] * len(DURATION_BUCKETS), 0.0, 0)
        for dry in DRY:
            snap.started[(job, dry)] = 0
            for status in f.FINAL_STATUSES:
                snap.finished[(job, status, dry)] = 0
            for error_class in f.ERROR_CLASSES:
                snap.attempts[(job, dry, error_class)] = 0
    for (job_id, status, dry_run), value in totals.runs.items():
        job, dry = label(job_id), _dry(dry_run)
        snap.started[(job, dry)] += value.started
        if status in f.FINAL_STATUSES:
            snap.finished[(job, status, dry)] += value.count
        if status == "succeeded" and dry == "false":
            snap.records[job] += value.records
            cumulative, total, n = snap.durations[job]
            snap.durations[job] = (
                [a + b for a, b in zip(cumulative, value.buckets, strict=True)],
                total + value.duration,
                n + value.count,
            )
    for (job_id, dry_run, error_class), count in totals.attempts.items():
        key = (label(job_id), _dry(dry_run), error_class)
        snap.attempts[key] = snap.attempts.get(key, 0) + count
    return snap


@dataclass
class Settled:
    """The totals of runs below `below`, all final: read once, then only extended."""

    below: int = 0
    totals: Totals = field(default_factory=Totals)


def read_snapshot(session: Session, max_jobs: int, settled: Settled | None = None) -> Snapshot:
    """The exported figures. With `settled` (kept between scrapes), only runs that were not
    final last time are read again, so a scrape costs the recent runs, not the whole history."""
    started_at = time.perf_counter()
    named, folded = job_labels(session, max_jobs)
    settled = settled if settled is not None else Settled()
    below = settled_below(session)
    if below > settled.below:
        settled.totals.add(read_totals(session, settled.below, below))
        settled.below = below
    totals = Totals()
    totals.add(settled.totals)
    totals.add(read_totals(session, settled.below, None))
    snap = fold(totals, named, folded)
    snap.read_s = time.perf_counter() - started_at
    return snap


def _engine_families(snap: Snapshot) -> Iterator[Metric]:
    finished = CounterMetricFamily(
        "etl_runs_finished",
        "Runs that reached a final status, by job, status and dry run (totals from the database)",
        labels=["job_id", "status", "dry_run"],
    )
    for (job, status, dry), value in sorted(snap.finished.items()):
        finished.add_metric([job, status, dry], value)
    yield finished

    started = CounterMetricFamily(
        "etl_runs_started",
        "Runs that started on a worker, by job and dry run",
        labels=["job_id", "dry_run"],
    )
    for (job, dry), value in sorted(snap.started.items()):
        started.add_metric([job, dry], value)
    yield started

    attempts = CounterMetricFamily(
        "etl_attempts",
        'Finished attempts by job, dry run and error class ("none": it did not fail)',
        labels=["job_id", "dry_run", "error_class"],
    )
    for (job, dry, error_class), value in sorted(snap.attempts.items()):
        attempts.add_metric([job, dry, error_class], value)
    yield attempts

    records = CounterMetricFamily(
        "etl_records_written",
        "Records written by succeeded real runs, by job",
        labels=["job_id", "dry_run"],
    )
    for job, value in sorted(snap.records.items()):
        records.add_metric([job, "false"], value)
    yield records

    duration = HistogramMetricFamily(
        "etl_run_duration_seconds",
        "Duration (ended - started) of succeeded real runs, by job",
        labels=["job_id", "dry_run"],
    )
    for job, (cumulative, total, count) in sorted(snap.durations.items()):
        buckets = [
            (str(float(bound)), value)
            for bound, value in zip(DURATION_BUCKETS, cumulative, strict=True)
        ]
        buckets.append(("+Inf", count))
        duration.add_metric([job, "false"], buckets, total)
    yield duration


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _health_families(health: Health) -> Iterator[Metric]:
    yield _gauge("etl_database_up", "1 when the database answers", float(health.database.reachable))
    yield _gauge("etl_redis_up", "1 when Redis answers", float(health.redis.reachable))
    if health.queue_depth is not None:
        yield _gauge(
            "etl_queue_depth",
            "Runs waiting to start: queued, waiting and due retrying",
            health.queue_depth,
        )
    if health.slots_in_use is not None:
        yield _gauge(
            "etl_runs_running", "Runs holding a slot (dispatched + running)", health.slots_in_use
        )
    if health.cap is not None:
        yield _gauge(
            "etl_parallel_jobs", "The ETL_PARALLEL_JOBS cap the dispatcher uses", health.cap
        )
    age = health.scheduler_heartbeat_age_s
    if age is not None:
        yield _gauge(
            "etl_scheduler_heartbeat_age_seconds",
            "Seconds since the leading scheduler's heartbeat",
            age,
        )
    yield _gauge(
        "etl_scheduler_up",
        f"1 when a scheduler heartbeat is younger than {SCHEDULER_STALE_S:g} s",
        float(age is not None and age <= SCHEDULER_STALE_S),
    )
    yield _gauge("etl_workers_alive", "Workers with a recent heartbeat", len(health.workers))


@dataclass
class _Cached:
    taken: float
    snapshot: Snapshot | None
    health: Health
    error: str | None


class EngineCollector(Collector):
    """Collects the engine's figures from the database, reusing them for `cache_s` seconds."""

    def __init__(self, cache_s: float | None = None, max_jobs: int | None = None) -> None:
        self._cache_s = cache_s
        self._max_jobs = max_jobs
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self._settled = Settled()

    def _read(self) -> _Cached:
        settings = get_settings()
        max_jobs = self._max_jobs or settings.etl_metrics_max_jobs
        health = check_health()
        snapshot: Snapshot | None = None
        error: str | None = None
        if health.database.reachable:
            try:
                with session_scope() as session:
                    snapshot = read_snapshot(session, max_jobs, self._settled)
            except Exception as exc:  # a scrape must still answer, with etl_metrics_up 0
                log.exception("metrics: could not read the run figures")
                error = type(exc).__name__
        return _Cached(time.monotonic(), snapshot, health, error)

    def current(self) -> _Cached:
        cache_s = self._cache_s if self._cache_s is not None else get_settings().etl_metrics_cache_s
        # One reader at a time: concurrent scrapes wait for the same answer instead of
        # each running the aggregate queries.
        with self._lock:
            cached = self._cached
            if cached is None or time.monotonic() - cached.taken >= cache_s:
                cached = self._cached = self._read()
            return cached

    def collect(self) -> Iterator[Metric]:
        cached = self.current()
        yield _gauge(
            "etl_metrics_up",
            "1 when the run figures could be read from the database",
            float(cached.snapshot is not None),
        )
        if cached.snapshot is not None:
            yield _gauge(
                "etl_metrics_read_seconds",
                "Time the last read of the run figures took",
                cached.snapshot.read_s,
            )
            yield from _engine_families(cached.snapshot)
        yield from _health_families(cached.health)


def build_registry(collector: Collector | None = None) -> CollectorRegistry:
    """A registry with the engine collector; with PROMETHEUS_MULTIPROC_DIR set, also the
    per-process metrics every web worker wrote there (prometheus_client multiprocess mode)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector or EngineCollector())
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return registry
