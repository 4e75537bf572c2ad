"""Fill the orchestrator database with many realistic jobs and runs, fast (demo and load tests).

Jobs are `scale_0000001`...; they form a layered DAG (each job depends on 0-3 jobs of earlier
layers, so it is acyclic by construction). Runs are spread over the last 30 days, each with its
attempts, a few log lines and its timeline events. PostgreSQL is written with COPY, SQLite with
executemany, both in batches; the jobs' denormalised last_run_* fields are set by one UPDATE.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, text

from etl_orchestrator.models import Job, JobDependency, Run, RunAttempt, RunEvent, RunLog
from etl_orchestrator.states import RunStatus

PREFIX = "scale_"
BATCH = 20_000
DAYS = 30

JOBS: Table = Job.metadata.tables["dw_etl_jobs"]
DEPS: Table = JobDependency.metadata.tables["dw_etl_job_dependencies"]
RUNS: Table = Run.metadata.tables["dw_etl_runs"]
ATTEMPTS: Table = RunAttempt.metadata.tables["dw_etl_run_attempts"]
LOGS: Table = RunLog.metadata.tables["dw_etl_run_logs"]
EVENTS: Table = RunEvent.metadata.tables["dw_etl_run_events"]

TAGS = ("finance", "marketing", "sales", "ops", "hourly", "daily", "critical", "pii", "external")
DOMAINS = ("finance", "marketing", "sales", "logistics", "hr", "product")
VERBS = ("load", "extract", "aggregate", "refresh", "sync", "export", "clean", "score")
NOUNS = ("orders", "customers", "invoices", "events", "inventory", "sessions", "leads", "payroll")
CRONS = ("0 * * * *", "*/15 * * * *", "0 2 * * *", "30 6 * * 1-5", "0 0 1 * *")
TIMEZONES = ("UTC", "UTC", "UTC", "Europe/Paris", "America/New_York")
ERRORS = (
    ("transient", "ConnectionError", "connection reset by peer"),
    ("transient", "TimeoutError", "query exceeded the statement timeout"),
    ("data", "ValueError", "unexpected NULL in a NOT NULL column"),
    ("code", "KeyError", "'customer_id'"),
)
#: Final statuses of the seeded runs and their weights (every one has at least one attempt).
STATUS_WEIGHTS = (
    (RunStatus.SUCCEEDED, 85),
    (RunStatus.FAILED, 8),
    (RunStatus.CANCELLED, 2),
    (RunStatus.RUNNING, 2),
    (RunStatus.RETRYING, 3),
)


class ScaleSeedExists(RuntimeError):
    """Scale jobs are already there and --replace was not given."""


@dataclass(frozen=True)
class SeedCounts:
    jobs: int
    dependencies: int
    runs: int
    attempts: int
    logs: int
    events: int
    seconds: float


def job_id_of(index: int) -> str:
    return f"{PREFIX}{index:07d}"


def existing_scale_jobs(conn: Connection) -> int:
    query = text("SELECT count(*) FROM dw_etl_jobs WHERE job_id LIKE :p ESCAPE '\\'")
    return int(conn.execute(query, {"p": PREFIX.replace("_", "\\_") + "%"}).scalar_one())


def _delete_scale(conn: Connection) -> None:
    pattern = {"p": PREFIX.replace("_", "\\_") + "%"}
    scale_runs = "SELECT run_id FROM dw_etl_runs WHERE job_id LIKE :p ESCAPE '\\'"
    for table in ("dw_etl_run_logs", "dw_etl_run_events", "dw_etl_run_attempts"):
        conn.execute(text(f"DELETE FROM {table} WHERE run_id IN ({scale_runs})"), pattern)
    conn.execute(text("DELETE FROM dw_etl_runs WHERE job_id LIKE :p ESCAPE '\\'"), pattern)
    conn.execute(
        text(
            "DELETE FROM dw_etl_job_dependencies WHERE job_id LIKE :p ESCAPE '\\' "
            "OR upstream_job_id LIKE :p ESCAPE '\\'"
        ),
        pattern,
    )
    conn.execute(text("DELETE FROM dw_etl_jobs WHERE job_id LIKE :p ESCAPE '\\'"), pattern)


class _Writer:
    """Writes rows (lists of Python values) to a table: COPY on PostgreSQL, else executemany."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def write(self, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        json_cols = {i for i, c in enumerate(columns) if _is_json(table, c)}
        count = 0
        if self.dialect == "postgresql":
            raw = self.conn.connection.driver_connection
            assert raw is not None
            names = ", ".join(columns)
            sql = f"COPY {table.name} ({names}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(_pg_row(row, json_cols))
                    count += 1
            return count
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        raw_conn = self.conn.connection.driver_connection
        assert raw_conn is not None
        converted = [_sqlite_row(row, json_cols) for row in rows]
        raw_conn.executemany(sql, converted)
        return len(converted)


JSON_COLUMNS = frozenset(
    {"config", "tags", "params_schema", "reads", "writes", "params", "affected_tables"}
)


def _is_json(table: Table, column: str) -> bool:
    return column in JSON_COLUMNS


def _pg_row(row: Sequence[Any], json_cols: set[int]) -> list[Any]:
    return [json.dumps(v) if i in json_cols else v for i, v in enumerate(row)]


def _sqlite_row(row: Sequence[Any], json_cols: set[int]) -> list[Any]:
    out: list[Any] = []
    for i, value in enumerate(row):
        if i in json_cols:
            out.append(json.dumps(value))
        elif isinstance(value, datetime):
            out.append(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
        elif isinstance(value, bool):
            out.append(int(value))
        else:
            out.append(value)
    return out


JOB_COLUMNS = [c.name for c in JOBS.columns]
RUN_COLUMNS = [c.name for c in RUNS.columns]


def _jobs(rng: random.Random, count: int, now: datetime) -> Iterator[list[Any]]:
    for index in range(1, count + 1):
        verb, noun = rng.choice(VERBS), rng.choice(NOUNS)
        cron = rng.choice(CRONS) if rng.random() < 0.6 else None
        params = None
        if rng.random() < 0.2:
            params = {
                "type": "object",
                "properties": {"day": {"type": "string", "format": "date"}},
            }
        values: dict[str, Any] = {
            "job_id": job_id_of(index),
            "name": f"{verb.title()} {noun} #{index}",
            "description": f"{verb} {noun} for the scale demo",
            "enabled": rng.random() < 0.9,
            "declared": True,
            "kind": "python",
            "entrypoint": f"demo.scale:{verb}_{noun}",
            "config": {},
            "cron": cron,
            "timezone": rng.choice(TIMEZONES),
            "next_run_at": now + timedelta(seconds=rng.randint(60, 86_400)) if cron else None,
            "priority": rng.choice((0, 0, 0, 1, 5, 10, -5)),
            "tags": sorted(rng.sample(TAGS, rng.randint(0, 3))),
            "domain": rng.choice(DOMAINS),
            "params_schema": params,
            "max_attempts": 3,
            "backoff_base_s": 2.0,
            "backoff_factor": 2.0,
            "backoff_max_s": 60.0,
            "backoff_jitter": 0.2,
            "timeout_s": 3600.0,
            "wait_timeout_s": 6 * 3600.0,
            "catchup": "latest",
            "reads": [f"staging.{noun}"],
            "writes": [f"dw.{noun}_{verb}"],
            "supports_dry_run": True,
            "last_run_id": None,
            "last_run_status": None,
            "last_run_duration_s": None,
            "last_run_at": None,
            "created_at": now - timedelta(days=DAYS + 1),
            "updated_at": now - timedelta(days=DAYS + 1),
        }
        yield [values[c] for c in JOB_COLUMNS]


def _dependencies(rng: random.Random, count: int) -> Iterator[list[Any]]:
    """Up to 12 layers; a job depends only on jobs of earlier layers: acyclic by construction."""
    layers = max(1, min(12, count // 10))
    for index in range(1, count + 1):
        layer = (index - 1) * layers // count
        first_of_layer = (layer * count + layers - 1) // layers + 1
        if layer == 0 or first_of_layer <= 1:
            continue
        ups = rng.sample(range(1, first_of_layer), min(rng.randint(0, 3), first_of_layer - 1))
        for up in sorted(ups):
            yield [job_id_of(index), job_id_of(up), "success"]


@dataclass
class _RunBatch:
    runs: list[list[Any]]
    attempts: list[list[Any]]
    logs: list[list[Any]]
    events: list[list[Any]]


def _status(rng: random.Random) -> RunStatus:
    pick = rng.randrange(100)
    for status, weight in STATUS_WEIGHTS:
        if pick < weight:
            return status
        pick -= weight
    return RunStatus.SUCCEEDED


def _run_batch(
    rng: random.Random, first: int, last: int, total: int, jobs: int, base_id: int, now: datetime
) -> _RunBatch:
    batch = _RunBatch([], [], [], [])
    span = DAYS * 86_400.0
    start = now - timedelta(days=DAYS)
    for i in range(first, last):
        run_id = base_id + i
        job = job_id_of(rng.randint(1, jobs))
        status = _status(rng)
        queued = start + timedelta(seconds=span * i / total)
        scheduled = rng.random() < 0.7
        failures = {
            RunStatus.SUCCEEDED: 0 if rng.random() < 0.9 else rng.randint(1, 2),
            RunStatus.FAILED: 2,
            RunStatus.RETRYING: rng.randint(0, 1),
        }.get(status, 0)
        attempts_n = failures + 1
        records = rng.randint(100, 2_000_000)
        clock = queued + timedelta(seconds=rng.uniform(0.05, 5))
        events: list[list[Any]] = [[run_id, queued, None, "queued", 0, "", "scheduler"]]
        run_started: datetime | None = None
        duration_total = 0.0
        error: tuple[str, str, str] | None = None
        prev = "queued"
        for attempt in range(1, attempts_n + 1):
            dispatched = clock
            started = dispatched + timedelta(seconds=rng.uniform(0.01, 2))
            run_started = run_started or started
            duration = rng.lognormvariate(3.5, 1.2)
            ended: datetime | None = started + timedelta(seconds=duration)
            is_last = attempt == attempts_n
            if is_last and status == RunStatus.SUCCEEDED:
                outcome: str | None = "succeeded"
            elif is_last and status == RunStatus.RUNNING:
                outcome, ended, duration = None, None, 0.0
            elif is_last and status == RunStatus.CANCELLED:
                outcome = "cancelled"
            else:
                outcome = "failed" if rng.random() < 0.8 else "timeout"
            err = rng.choice(ERRORS) if outcome in ("failed", "timeout") else None
            if err is not None:
                error = err
            token = f"{run_id:x}-{attempt}"
            batch.attempts.append(
                [
                    run_id,
                    attempt,
                    token,
                    f"worker-{rng.randint(1, 8)}",
                    dispatched,
                    started,
                    ended,
                    duration if ended else None,
                    outcome,
                    err[0] if err else None,
                    err[1] if err else None,
                    err[2] if err else None,
                    f"Traceback (most recent call last):\n  ...\n{err[1]}: {err[2]}"
                    if err
                    else None,
                    records if outcome == "succeeded" else None,
                    records if outcome == "succeeded" else None,
                ]
            )
            # prev -> dispatched -> running -> outcome
            for to, ts in (("dispatched", dispatched), ("running", started)):
                events.append([run_id, ts, prev, to, attempt, "", "system"])
                prev = to
            batch.logs.append([run_id, attempt, 1, started, "INFO", "etl.job", f"starting {job}"])
            if ended is not None:
                if outcome == "succeeded":
                    line = (
                        "INFO",
                        f"read {records} rows, wrote {records} rows in {duration:.1f} s",
                    )
                else:
                    line = ("ERROR", f"{err[1]}: {err[2]}" if err else "cancelled")
                batch.logs.append([run_id, attempt, 2, ended, line[0], "etl.job", line[1]])
                to = {
                    "succeeded": "succeeded",
                    "cancelled": "cancelled",
                }.get(outcome or "", "failed" if is_last else "retrying")
                if status == RunStatus.RETRYING and is_last:
                    to = "retrying"
                events.append([run_id, ended, prev, to, attempt, outcome or "", "system"])
                prev = to
                duration_total += duration
                clock = ended + timedelta(seconds=rng.uniform(2, 60))
        final_attempt = batch.attempts[-1]
        unfinished = status in (RunStatus.RUNNING, RunStatus.RETRYING)
        run_ended = None if unfinished else final_attempt[6]
        run_duration = (
            (run_ended - run_started).total_seconds() if run_ended and run_started else None
        )
        values: dict[str, Any] = {
            "run_id": run_id,
            "job_id": job,
            "batch_id": f"scale-{run_id:012d}",
            "trigger": "schedule" if scheduled else "manual",
            "scheduled_for": queued if scheduled else None,
            "status": status.value,
            "status_detail": "",
            "dry_run": False,
            "params": {},
            "priority": 0,
            "concurrency_override": None,
            "requested_by": "scheduler" if scheduled else "demo",
            "reason": "",
            "retry_of": None,
            "attempts": attempts_n,
            "max_attempts": 3,
            "attempt_token": final_attempt[2],
            "queued_at": queued,
            "dispatched_at": final_attempt[4],
            "started_at": run_started,
            "ended_at": run_ended,
            "duration_s": run_duration,
            "records_read": records if status == RunStatus.SUCCEEDED else None,
            "records_written": records if status == RunStatus.SUCCEEDED else None,
            "affected_tables": ["dw.scale"] if status == RunStatus.SUCCEEDED else [],
            "checksum": None,
            "error_class": error[0] if error and status != RunStatus.SUCCEEDED else None,
            "error_excerpt": error[2] if error and status != RunStatus.SUCCEEDED else None,
            "next_attempt_at": clock if status == RunStatus.RETRYING else None,
            "heartbeat_at": final_attempt[5] if status == RunStatus.RUNNING else None,
            "worker": final_attempt[3],
        }
        batch.runs.append([values[c] for c in RUN_COLUMNS])
        batch.events.extend(events)
    return batch


ATTEMPT_ORDER = [
    "run_id",
    "attempt",
    "token",
    "worker",
    "dispatched_at",
    "started_at",
    "ended_at",
    "duration_s",
    "outcome",
    "error_class",
    "error_type",
    "error_message",
    "traceback",
    "records_read",
    "records_written",
]
LOG_ORDER = ["run_id", "attempt", "seq", "ts", "level", "logger", "message"]
EVENT_ORDER = ["run_id", "ts", "from_status", "to_status", "attempt", "detail", "actor"]

LAST_RUN_UPDATE = """
UPDATE dw_etl_jobs SET
    last_run_id = latest.run_id,
    last_run_status = latest.status,
    last_run_duration_s = latest.duration_s,
    last_run_at = latest.at
FROM (
    SELECT r.job_id, r.run_id, r.status, r.duration_s,
           COALESCE(r.ended_at, r.started_at, r.queued_at) AS at
    FROM dw_etl_runs AS r
    JOIN (SELECT job_id, max(run_id) AS run_id FROM dw_etl_runs
          WHERE job_id LIKE :p ESCAPE '\\' GROUP BY job_id) AS m ON m.run_id = r.run_id
) AS latest
WHERE dw_etl_jobs.job_id = latest.job_id
"""


def seed_scale(
    engine: Engine, *, jobs: int, runs: int, seed: int = 0, replace: bool = False
) -> SeedCounts:
    """Write `jobs` scale jobs and `runs` runs (with attempts, logs, events) in one transaction."""
    if jobs < 1 or runs < 0:
        raise ValueError("--jobs must be at least 1 and --runs at least 0")
    began = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    counts = dict.fromkeys(("deps", "attempts", "logs", "events"), 0)
    with engine.begin() as conn:
        existing = existing_scale_jobs(conn)
        if existing and not replace:
            raise ScaleSeedExists(
                f"the database already has {existing} scale jobs ({PREFIX}*); "
                "pass --replace to delete them (and their runs) and seed again"
            )
        if existing:
            _delete_scale(conn)
        writer = _Writer(conn)
        job_rows = _jobs(rng, jobs, now)
        for chunk in _chunks(job_rows, BATCH):
            writer.write(JOBS, JOB_COLUMNS, chunk)
        for chunk in _chunks(_dependencies(rng, jobs), BATCH):
            counts["deps"] += writer.write(DEPS, ["job_id", "upstream_job_id", "dep_type"], chunk)
        base_id = int(
            conn.execute(text("SELECT COALESCE(max(run_id), 0) FROM dw_etl_runs")).scalar_one()
        )
        base_id += 1
        for first in range(0, runs, BATCH):
            batch = _run_batch(rng, first, min(first + BATCH, runs), runs, jobs, base_id, now)
            writer.write(RUNS, RUN_COLUMNS, batch.runs)
            counts["attempts"] += writer.write(ATTEMPTS, ATTEMPT_ORDER, batch.attempts)
            counts["logs"] += writer.write(LOGS, LOG_ORDER, batch.logs)
            counts["events"] += writer.write(EVENTS, EVENT_ORDER, batch.events)
        if conn.dialect.name == "postgresql" and runs:
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('dw_etl_runs', 'run_id'), "
                    "(SELECT max(run_id) FROM dw_etl_runs))"
                )
            )
        conn.execute(text(LAST_RUN_UPDATE), {"p": PREFIX.replace("_", "\\_") + "%"})
    return SeedCounts(
        jobs=jobs,
        dependencies=counts["deps"],
        runs=runs,
        attempts=counts["attempts"],
        logs=counts["logs"],
        events=counts["events"],
        seconds=time.perf_counter() - began,
    )


def _chunks(rows: Iterable[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    chunk: list[list[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
