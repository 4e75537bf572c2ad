"""The console's figures, defined once: each as PromQL over /metrics and as SQL over the runs.

ARCHITECTURE.md "Figures, defined once", over real (non-dry) runs in a window:
  runs            finished runs (succeeded, failed, cancelled, upstream_failed)
  failures        failed runs
  success rate    succeeded / (succeeded + failed)
  transient rate  transient attempts / all finished attempts
  throughput      records written by succeeded runs, per hour of the window
  duration        mean of ended - started over succeeded runs (histogram sum / count)

A run belongs to the window in which it ended (`ended_at`); an attempt likewise. This module
builds queries and turns their rows into figures; it performs no I/O.

Why `max_over_time - min_over_time` and not `increase()`: the exported counters are totals
derived from the database (observability/exporter.py), so they never reset when a web process
restarts, and the difference of the window's last and first sample is exact, where `increase()`
extrapolates to the window's edges and would not equal the database's count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, select
from sqlmodel import col

from etl_orchestrator.models import Run, RunAttempt
from etl_orchestrator.states import RunStatus

#: Metric names the exporter writes and the queries read.
RUNS_FINISHED = "etl_runs_finished_total"
RUNS_STARTED = "etl_runs_started_total"
ATTEMPTS = "etl_attempts_total"
RECORDS_WRITTEN = "etl_records_written_total"
DURATION = "etl_run_duration_seconds"
FINAL_STATUSES = (
    RunStatus.SUCCEEDED.value,
    RunStatus.FAILED.value,
    RunStatus.CANCELLED.value,
    RunStatus.UPSTREAM_FAILED.value,
)
#: error_class label values of attempts; "none" is an attempt that did not fail.
ERROR_CLASSES = ("transient", "permanent", "none")
#: The job label of the jobs beyond ETL_METRICS_MAX_JOBS. The label is `job_id`: `job` is
#: Prometheus' own target label (the scrape job), which a scraped `job` label would lose to.
OTHER_JOB = "_other"


@dataclass(frozen=True)
class Window:
    """(end - seconds, end], cut into `points` equal steps for the sparklines."""

    end: datetime
    seconds: int = 24 * 3600
    points: int = 24

    @property
    def start(self) -> datetime:
        return self.end - timedelta(seconds=self.seconds)

    @property
    def step_s(self) -> int:
        return max(1, self.seconds // self.points)

    def edges(self) -> list[datetime]:
        """The end of each step, oldest first (the last is `end`)."""
        step = timedelta(seconds=self.step_s)
        return [self.end - step * (self.points - 1 - i) for i in range(self.points)]


@dataclass
class Figures:
    runs: int = 0
    failures: int = 0
    succeeded: int = 0
    success_rate: float | None = None
    transient_rate: float | None = None
    throughput_per_h: float = 0.0
    mean_duration_s: float | None = None


@dataclass
class Trend:
    """One figure per window step, oldest first; None where it is undefined (no runs)."""

    duration_s: list[float | None] = field(default_factory=list)
    success_rate: list[float | None] = field(default_factory=list)
    throughput_per_h: list[float | None] = field(default_factory=list)


# ---- PromQL ------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def matcher(job: str | None, **labels: str) -> str:
    """A label matcher for real runs, one job or all: `{dry_run="false",job_id="x",...}`.

    Grafana's `$job` (a multi-value variable) is matched as a regular expression."""
    parts = {"dry_run": "false", **labels}
    text = ",".join(f'{k}="{_escape(v)}"' for k, v in parts.items())
    if job:
        op = "=~" if job.startswith("$") else "="
        text += f',job_id{op}"{job if op == "=~" else _escape(job)}"'
    return "{" + text + "}"


def _delta(metric: str, selector: str, range_: str) -> str:
    """What a database-derived counter grew by over the range, summed over its series."""
    return (
        f"sum(max_over_time({metric}{selector}[{range_}])"
        f" - min_over_time({metric}{selector}[{range_}]))"
    )


def promql(figure: str, job: str | None, range_: str) -> str:
    """The PromQL of one figure over a range such as "86400s" (or Grafana's "$__range")."""
    finished = matcher(job)
    succeeded = _delta(RUNS_FINISHED, matcher(job, status="succeeded"), range_)
    failed = _delta(RUNS_FINISHED, matcher(job, status="failed"), range_)
    if figure == "runs":
        return _delta(RUNS_FINISHED, finished, range_)
    if figure == "failures":
        return failed
    if figure == "succeeded":
        return succeeded
    if figure == "success_rate":
        return f"({succeeded}) / (({succeeded}) + ({failed}))"
    if figure == "transient_rate":
        transient = _delta(ATTEMPTS, matcher(job, error_class="transient"), range_)
        return f"({transient}) / ({_delta(ATTEMPTS, finished, range_)})"
    if figure == "throughput_per_h":
        written = _delta(RECORDS_WRITTEN, finished, range_)
        return f"({written}) * 3600 / {_range_seconds(range_)}"
    if figure == "mean_duration_s":
        total = _delta(f"{DURATION}_sum", finished, range_)
        count = _delta(f"{DURATION}_count", finished, range_)
        return f"({total}) / ({count})"
    raise ValueError(f"unknown figure {figure!r}")


def _range_seconds(range_: str) -> str:
    """A range as a PromQL number: "86400s" -> 86400; Grafana's $__range -> $__range_s,
    $__interval -> ($__interval_ms / 1000)."""
    if range_ == "$__range":
        return "$__range_s"
    if range_ == "$__interval":
        return "($__interval_ms / 1000)"
    if range_.endswith("s") and range_[:-1].isdigit():
        return range_[:-1]
    raise ValueError(f"ranges are written in seconds (86400s), not {range_!r}")


HEADLINE = (
    "runs",
    "failures",
    "succeeded",
    "success_rate",
    "transient_rate",
    "throughput_per_h",
    "mean_duration_s",
)
TREND = ("mean_duration_s", "success_rate", "throughput_per_h")


def number(value: Any) -> float | None:
    """A Prometheus sample value ("NaN" for 0/0) as a float, None when undefined."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) or math.isinf(result) else result


def figures_from_values(values: dict[str, float | None]) -> Figures:
    """Instant-query results (by figure name) as Figures; missing counts are zero."""

    def count(name: str) -> int:
        return round(values.get(name) or 0.0)

    return Figures(
        runs=count("runs"),
        failures=count("failures"),
        succeeded=count("succeeded"),
        success_rate=values.get("success_rate"),
        transient_rate=values.get("transient_rate"),
        throughput_per_h=values.get("throughput_per_h") or 0.0,
        mean_duration_s=values.get("mean_duration_s"),
    )


# ---- SQL ---------------------------------------------------------------------------------


def _step_of(column: Any, window: Window) -> Any:
    """The index of the window step a timestamp falls in (a CASE, so it is the same on
    PostgreSQL and SQLite); the WHERE clause keeps only timestamps inside the window."""
    edges = window.edges()
    whens = [(column <= edge, literal(i)) for i, edge in enumerate(edges[:-1])]
    last = literal(len(edges) - 1)
    return case(*whens, else_=last) if whens else last


def runs_statement(window: Window, job: str | None) -> Select[Any]:
    """Finished real runs in the window by step and status: count, duration sum, records."""
    conditions = [
        col(Run.dry_run).is_(False),
        col(Run.status).in_(FINAL_STATUSES),
        col(Run.ended_at) > window.start,
        col(Run.ended_at) <= window.end,
    ]
    if job:
        conditions.append(col(Run.job_id) == job)
    # The step is computed in a subquery: PostgreSQL cannot match a GROUP BY expression that
    # holds bound parameters with the same expression in the select list.
    inner = (
        select(
            _step_of(col(Run.ended_at), window).label("step"),
            col(Run.status).label("status"),
            col(Run.duration_s).label("duration_s"),
            col(Run.records_written).label("records"),
        )
        .where(and_(*conditions))
        .subquery()
    )
    return select(
        inner.c.step,
        inner.c.status,
        func.count(),
        func.coalesce(func.sum(inner.c.duration_s), 0.0),
        func.coalesce(func.sum(inner.c.records), 0),
    ).group_by(inner.c.step, inner.c.status)


def attempts_statement(window: Window, job: str | None) -> Select[Any]:
    """Finished attempts of real runs in the window by step and error class."""
    conditions = [
        col(Run.dry_run).is_(False),
        col(RunAttempt.outcome).is_not(None),
        col(RunAttempt.ended_at) > window.start,
        col(RunAttempt.ended_at) <= window.end,
    ]
    if job:
        conditions.append(col(Run.job_id) == job)
    inner = (
        select(
            _step_of(col(RunAttempt.ended_at), window).label("step"),
            case((col(RunAttempt.error_class) == "transient", 1), else_=0).label("transient"),
        )
        .select_from(RunAttempt)
        .join(Run, col(Run.run_id) == col(RunAttempt.run_id))
        .where(and_(*conditions))
        .subquery()
    )
    return select(inner.c.step, func.count(), func.sum(inner.c.transient)).group_by(inner.c.step)


@dataclass
class _Step:
    counts: dict[str, int] = field(default_factory=dict)
    duration_sum: float = 0.0
    records: int = 0
    attempts: int = 0
    transient: int = 0


def _ratio(top: float, bottom: float) -> float | None:
    return top / bottom if bottom else None


def _figures(steps: Iterable[_Step], hours: float) -> Figures:
    runs = failures = succeeded = attempts = transient = records = 0
    duration = 0.0
    for s in steps:
        runs += sum(s.counts.values())
        failures += s.counts.get("failed", 0)
        succeeded += s.counts.get("succeeded", 0)
        duration += s.duration_sum
        records += s.records
        attempts += s.attempts
        transient += s.transient
    return Figures(
        runs=runs,
        failures=failures,
        succeeded=succeeded,
        success_rate=_ratio(succeeded, succeeded + failures),
        transient_rate=_ratio(transient, attempts),
        throughput_per_h=records / hours,
        mean_duration_s=_ratio(duration, succeeded),
    )


def from_rows(
    window: Window, run_rows: Iterable[Sequence[Any]], attempt_rows: Iterable[Sequence[Any]]
) -> tuple[Figures, Trend]:
    """The rows of `runs_statement` and `attempts_statement` as the window's figures and trend."""
    steps = [_Step() for _ in range(window.points)]
    for step, status, count, duration_sum, records in run_rows:
        s = steps[int(step)]
        s.counts[str(status)] = int(count)
        if status == RunStatus.SUCCEEDED:
            s.duration_sum = float(duration_sum)
            s.records = int(records)
    for step, count, transient in attempt_rows:
        steps[int(step)].attempts = int(count)
        steps[int(step)].transient = int(transient or 0)
    figures = _figures(steps, window.seconds / 3600)
    trend = Trend()
    for s in steps:
        one = _figures([s], window.step_s / 3600)
        trend.duration_s.append(one.mean_duration_s)
        trend.success_rate.append(one.success_rate)
        trend.throughput_per_h.append(one.throughput_per_h)
    return figures, trend
