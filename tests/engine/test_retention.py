"""Retention: old logs, events and audit rows go in bounded batches; runs and live work stay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from etl_orchestrator.db import get_engine, session_scope
from etl_orchestrator.engine.logsink import LOG_STREAM_TTL_S, LogSink, log_stream
from etl_orchestrator.engine.retention import cleanup_pass
from etl_orchestrator.models import AuditEntry, Job, Run, RunEvent, RunLog, Setting
from etl_orchestrator.redis_conn import async_client
from etl_orchestrator.services import retention_settings as retention
from etl_orchestrator.services.settings import SettingError
from etl_orchestrator.states import RunStatus

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOTHING = {"logs": 0, "run_events": 0, "audit": 0}


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def make_run(any_db: str) -> Callable[[RunStatus], int]:
    def make(status: RunStatus) -> int:
        with session_scope() as session:
            if session.get(Job, "kept_job") is None:
                session.add(Job(job_id="kept_job", name="kept job"))
                session.flush()
            run = Run(job_id="kept_job", batch_id="b", status=status)
            session.add(run)
            session.flush()
            assert run.run_id is not None
            return run.run_id

    return make


def add_logs(run_id: int, *ages_days: float, attempt: int = 1) -> None:
    with session_scope() as session:
        start = len(session.exec(select(RunLog).where(RunLog.run_id == run_id)).all())
        for seq, age in enumerate(ages_days, start=start + 1):
            session.add(
                RunLog(run_id=run_id, attempt=attempt, seq=seq, ts=days_ago(age), message="x")
            )


def add_events(run_id: int, *ages_days: float) -> None:
    with session_scope() as session:
        for age in ages_days:
            session.add(RunEvent(run_id=run_id, ts=days_ago(age), to_status="queued"))


def add_audit(*ages_days: float) -> None:
    with session_scope() as session:
        for age in ages_days:
            session.add(AuditEntry(ts=days_ago(age), actor="someone", action="run.trigger"))


def log_ages(run_id: int) -> list[float]:
    with session_scope() as session:
        rows = session.exec(select(RunLog).where(RunLog.run_id == run_id).order_by(col(RunLog.seq)))
        return [round((NOW - row.ts).total_seconds() / 86400, 1) for row in rows]


def event_ages(run_id: int) -> list[float]:
    with session_scope() as session:
        rows = session.exec(
            select(RunEvent).where(RunEvent.run_id == run_id).order_by(col(RunEvent.event_id))
        )
        return [round((NOW - row.ts).total_seconds() / 86400, 1) for row in rows]


def audit_ages() -> list[float]:
    with session_scope() as session:
        rows = session.exec(select(AuditEntry).order_by(col(AuditEntry.audit_id)))
        return [round((NOW - row.ts).total_seconds() / 86400, 1) for row in rows]


def test_cleanup_deletes_only_rows_past_their_retention(make_run: Callable[..., int]) -> None:
    finished = make_run(RunStatus.SUCCEEDED)
    in_flight = make_run(RunStatus.RUNNING)
    add_logs(finished, 31, 45, 29)
    add_logs(in_flight, 31)
    add_events(finished, 91, 89)
    add_events(in_flight, 91)
    add_audit(366, 364)

    deleted = cleanup_pass(now=NOW)

    assert deleted == {"logs": 2, "run_events": 1, "audit": 1}
    assert log_ages(finished) == [29.0]
    assert log_ages(in_flight) == [31.0]
    assert event_ages(finished) == [89.0]
    assert event_ages(in_flight) == [91.0]
    assert audit_ages() == [364.0]
    with session_scope() as session:
        assert len(session.exec(select(Run)).all()) == 2


def test_every_final_status_counts_as_finished(make_run: Callable[..., int]) -> None:
    finals = [
        make_run(status)
        for status in (
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
            RunStatus.UPSTREAM_FAILED,
        )
    ]
    pending = [
        make_run(status)
        for status in (
            RunStatus.QUEUED,
            RunStatus.WAITING,
            RunStatus.DISPATCHED,
            RunStatus.RETRYING,
        )
    ]
    for run_id in finals + pending:
        add_logs(run_id, 40)

    assert cleanup_pass(now=NOW)["logs"] == len(finals)
    assert [log_ages(run_id) for run_id in finals] == [[]] * len(finals)
    assert [log_ages(run_id) for run_id in pending] == [[40.0]] * len(pending)


def test_cleanup_walks_the_backlog_in_bounded_batches(make_run: Callable[..., int]) -> None:
    first, second = make_run(RunStatus.SUCCEEDED), make_run(RunStatus.FAILED)
    add_logs(first, *[40] * 4)
    add_logs(first, *[40] * 3, attempt=2)
    add_logs(second, 40, 40, 10)

    assert cleanup_pass(now=NOW, batch=2, max_batches=2)["logs"] == 4
    assert cleanup_pass(now=NOW, batch=2, max_batches=2)["logs"] == 4
    assert cleanup_pass(now=NOW, batch=2, max_batches=2)["logs"] == 1
    assert cleanup_pass(now=NOW, batch=2, max_batches=2) == NOTHING
    assert log_ages(first) == []
    assert log_ages(second) == [10.0]


def test_a_pass_with_nothing_old_only_probes(make_run: Callable[..., int]) -> None:
    run_id = make_run(RunStatus.SUCCEEDED)
    add_logs(run_id, 1)
    add_events(run_id, 1)
    add_audit(1)
    cleanup_pass(now=NOW)  # seeds the settings rows
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    event.listen(get_engine(), "before_cursor_execute", record)
    try:
        assert cleanup_pass(now=NOW) == NOTHING
    finally:
        event.remove(get_engine(), "before_cursor_execute", record)

    assert "DELETE" not in statements
    # The three settings and one existence probe per table, in one transaction.
    assert statements.count("SELECT") <= 6


def test_first_pass_seeds_the_documented_defaults(any_db: str) -> None:
    assert cleanup_pass(now=NOW) == NOTHING

    with session_scope() as session:
        values = {key: session.get(Setting, key) for key in retention.DEFAULTS}
    assert {key: row.value for key, row in values.items() if row} == {
        "retention_logs_days": 30,
        "retention_run_events_days": 90,
        "retention_audit_days": 365,
    }


def test_zero_days_keeps_rows_forever(make_run: Callable[..., int]) -> None:
    run_id = make_run(RunStatus.SUCCEEDED)
    add_logs(run_id, 4000)
    with session_scope() as session:
        retention.set_retention_days(
            session, retention.LOGS_DAYS, 0, actor="admin", reason="legal hold", role="admin"
        )

    assert cleanup_pass(now=NOW)["logs"] == 0
    assert log_ages(run_id) == [4000.0]
    with session_scope() as session:
        change = session.exec(select(AuditEntry).where(AuditEntry.action == "settings.update"))
        assert [(row.target, row.params, row.reason) for row in change] == [
            ("retention_logs_days", {"old": 30, "new": 0}, "legal hold")
        ]


def test_a_shorter_period_applies_on_the_next_pass(make_run: Callable[..., int]) -> None:
    run_id = make_run(RunStatus.SUCCEEDED)
    add_logs(run_id, 8, 6)
    with session_scope() as session:
        retention.set_retention_days(
            session, retention.LOGS_DAYS, 7, actor="admin", reason="disk is filling up"
        )

    assert cleanup_pass(now=NOW)["logs"] == 1
    assert log_ages(run_id) == [6.0]


@pytest.mark.parametrize("days", [-1, 36_501, True, 2.5, "30", None])
def test_retention_refuses_what_is_not_a_number_of_days(any_db: str, days: object) -> None:
    with session_scope() as session, pytest.raises(SettingError, match="whole number of days"):
        retention.set_retention_days(
            session,
            retention.AUDIT_DAYS,
            days,  # type: ignore[arg-type]
            actor="admin",
            reason="test",
        )


def test_retention_needs_a_reason_and_a_known_key(any_db: str) -> None:
    with session_scope() as session:
        with pytest.raises(SettingError, match="reason is required"):
            retention.set_retention_days(
                session, retention.AUDIT_DAYS, 10, actor="admin", reason=" "
            )
        with pytest.raises(SettingError, match="unknown retention setting"):
            retention.set_retention_days(session, "retention_x", 10, actor="a", reason="r")


def test_a_corrupt_setting_falls_back_to_its_default(any_db: str) -> None:
    with session_scope() as session:
        session.add(Setting(key=retention.AUDIT_DAYS, value="a year"))

    with session_scope() as session:
        assert retention.retention_days(session, retention.AUDIT_DAYS) == 365


def test_cleanup_in_the_callers_transaction_goes_with_it(make_run: Callable[..., int]) -> None:
    run_id = make_run(RunStatus.SUCCEEDED)
    add_logs(run_id, 40, 41, 42)

    counts: list[int] = []

    def change_of_mind() -> None:
        with session_scope() as session:
            counts.append(cleanup_pass(session, now=NOW, batch=1)["logs"])
            raise RuntimeError("the caller changes its mind")

    with pytest.raises(RuntimeError):
        change_of_mind()
    assert counts == [3]
    assert log_ages(run_id) == [40.0, 41.0, 42.0]

    with session_scope() as session:
        assert cleanup_pass(session, now=NOW, batch=1)["logs"] == 3
    assert log_ages(run_id) == []


def test_batch_must_be_positive(any_db: str) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        cleanup_pass(now=NOW, batch=0)


async def test_a_runs_live_log_stream_expires_in_redis(make_run: Callable[..., int]) -> None:
    run_id = make_run(RunStatus.RUNNING)
    client = async_client()
    try:
        sink = LogSink(run_id, 1, client)
        sink.add(level="INFO", logger="job", message="hello")
        await sink.flush()

        assert await client.xlen(log_stream(run_id)) == 1
        assert 0 < await client.ttl(log_stream(run_id)) <= LOG_STREAM_TTL_S
    finally:
        await client.aclose()
