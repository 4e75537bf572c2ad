"""The active scheduler sends each alert once, to Slack and e-mail, and retries a down webhook."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from etl_orchestrator import db
from etl_orchestrator.alerts import outbox
from etl_orchestrator.alerts.message import (
    NO_WORKERS,
    RUN_FAILED,
    SCHEDULER_FAILOVER,
    SCHEDULER_UNHEALTHY,
)
from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.dispatch import DISPATCH_LOCK_KEY
from etl_orchestrator.engine.scheduler import Scheduler
from etl_orchestrator.models import Alert, WorkerRecord
from tests.alerts.alert_jobs import always_fails
from tests.alerts.conftest import BASE_URL, Mailbox, SlackWebhook
from tests.drills.conftest import RedisServer
from tests.engine.conftest import Engine, spec

FAILING = "always_fails"
REPO = Path(__file__).resolve().parents[2]


async def until(what: str, predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.05)


def alerts() -> list[Alert]:
    with session_scope() as session:
        return list(session.exec(select(Alert).order_by(Alert.alert_id)).all())  # type: ignore[arg-type]


def run_alert(run_id: int) -> Alert | None:
    return next((a for a in alerts() if a.run_id == run_id and a.kind == RUN_FAILED), None)


class Schedulers:
    """Real Scheduler instances (default hooks: reaper, retention, alerts) in this loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.running: dict[str, tuple[Scheduler, asyncio.Task[None]]] = {}

    def __call__(self, name: str, redis_url: str | None = None) -> Scheduler:
        scheduler = Scheduler(
            lease_ttl_s=1.0,
            poll_s=0.05,
            tick_s=0.5,
            heartbeat_s=0.2,
            dispatcher_idle_s=0.2,
            specs=self.engine.specs,
            instance=name,
            redis_url=redis_url,
        )
        self.running[name] = (scheduler, asyncio.create_task(scheduler.run()))
        return scheduler

    async def kill(self, name: str) -> None:
        """Cancel it: like a dead process, it hands nothing over and its row stays leading."""
        _scheduler, task = self.running.pop(name)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def stop_all(self) -> None:
        for scheduler, _task in self.running.values():
            scheduler.stop()
        for _scheduler, task in self.running.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)


@pytest.fixture
async def schedulers(engine: Engine) -> AsyncIterator[Schedulers]:
    fleet = Schedulers(engine)
    try:
        yield fleet
    finally:
        await fleet.stop_all()


async def fail_one_run(engine: Engine, schedulers: Schedulers) -> int:
    engine.declare(spec(FAILING, always_fails))
    await engine.start(workers=1, dispatchers=0)
    schedulers("a")
    schedulers("b")
    [run_id] = engine.trigger(FAILING)
    finished = await engine.wait_final([run_id])
    assert finished[run_id].status == "failed"
    return run_id


def mail_parts(mail: Message) -> dict[str, str]:
    """Content type -> decoded text of each leaf part."""
    parts = {}
    for part in mail.walk():
        if not part.is_multipart():
            raw = part.get_payload(decode=True)
            assert isinstance(raw, bytes)
            parts[part.get_content_type()] = raw.decode()
    return parts


def slack_text(payload: dict[str, Any]) -> str:
    return str(payload)


async def test_a_run_that_fails_for_good_sends_one_slack_message_and_one_email_with_its_link(
    engine: Engine,
    schedulers: Schedulers,
    destinations: tuple[SlackWebhook, Mailbox],
) -> None:
    slack, mailbox = destinations
    run_id = await fail_one_run(engine, schedulers)
    link = f"{BASE_URL}/runs/{run_id}"

    await until(
        "both deliveries", lambda: (a := run_alert(run_id)) is not None and a.status == "sent"
    )
    # Two schedulers ran alert passes for a while longer: still exactly one of each.
    await asyncio.sleep(1.0)
    assert len(slack.received) == 1
    assert len(mailbox.messages) == 1
    payload = slack.received[0]
    assert link in slack_text(payload)
    assert any(b["type"] == "actions" for b in payload["blocks"])
    mail = mailbox.messages[0]
    assert mail["Subject"].startswith(f"[Dev] Run {run_id} of {FAILING} failed")
    parts = mail_parts(mail)
    assert link in parts["text/plain"]
    assert f"href='{link}'" in parts["text/html"]
    assert mailbox.envelopes[0][1] == ["oncall@example.test", "lead@example.test"]
    alert = run_alert(run_id)
    assert alert is not None
    assert alert.dedup_key == f"{RUN_FAILED}:{run_id}"
    assert {name: state["status"] for name, state in alert.channels.items()} == {
        "slack": "sent",
        "email": "sent",
    }
    assert [a.run_id for a in alerts() if a.kind == RUN_FAILED] == [run_id]


async def test_a_webhook_answering_500_is_retried_with_backoff_until_it_recovers(
    engine: Engine,
    schedulers: Schedulers,
    destinations: tuple[SlackWebhook, Mailbox],
) -> None:
    slack, mailbox = destinations
    slack.fail_with = 500
    run_id = await fail_one_run(engine, schedulers)

    await until("two refused Slack attempts", lambda: slack.refused >= 2)
    alert = run_alert(run_id)
    assert alert is not None
    state = alert.channels["slack"]
    assert state["status"] == "pending"
    assert state["last_error"].startswith("HTTP 500")
    assert alert.channels["email"]["status"] == "sent"  # one destination down holds no other

    slack.fail_with = None
    await until(
        "the Slack delivery", lambda: (a := run_alert(run_id)) is not None and a.status == "sent"
    )
    assert len(slack.received) == 1
    assert f"{BASE_URL}/runs/{run_id}" in str(slack.received[0])
    assert len(mailbox.messages) == 1
    final = run_alert(run_id)
    assert final is not None
    assert final.channels["slack"]["attempts"] >= 3


async def test_no_live_worker_raises_one_systemic_alert_that_resolves_when_one_starts(
    engine: Engine,
    schedulers: Schedulers,
    destinations: tuple[SlackWebhook, Mailbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slack, _mailbox = destinations
    monkeypatch.setenv("ETL_ALERT_NO_WORKERS_S", "0.5")
    engine.declare(spec(FAILING, always_fails))
    schedulers("a")
    schedulers("b")
    await until("the no-workers alert", lambda: any(a.kind == NO_WORKERS for a in alerts()))
    await until("its Slack message", lambda: len(slack.received) >= 1)
    [open_alert] = [a for a in alerts() if a.kind == NO_WORKERS]
    assert open_alert.dedup_key == NO_WORKERS + outbox.OPEN_SUFFIX

    await engine.start(workers=1, dispatchers=0)
    await until(
        "the alert resolved",
        lambda: all(not a.dedup_key.endswith(outbox.OPEN_SUFFIX) for a in alerts()),
    )
    assert [a.kind for a in alerts()] == [NO_WORKERS]
    assert "Resolved at" in alerts()[0].message
    assert len(slack.received) == 1


def leading_row() -> WorkerRecord | None:
    with session_scope() as session:
        query = select(WorkerRecord).where(
            col(WorkerRecord.worker_id).startswith("scheduler:"), WorkerRecord.running == 1
        )
        return session.exec(query).first()


async def test_a_leader_that_dies_is_reported_once_by_the_standby_that_takes_over(
    engine: Engine,
    schedulers: Schedulers,
    destinations: tuple[SlackWebhook, Mailbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slack, _mailbox = destinations
    # Well above the standby's 0.2 s beat, even on a loaded machine.
    monkeypatch.setenv("ETL_ALERT_SCHEDULER_DEAD_S", "3")
    monkeypatch.setenv("ETL_JOBS_MODULES", "tests.alerts.alert_jobs")
    engine.declare(spec(FAILING, always_fails))
    await engine.start(workers=1, dispatchers=0)
    # The leader is a real process, killed with SIGKILL: no hand-over, no last heartbeat.
    leader = subprocess.Popen(  # noqa: ASYNC220 - started once, not waited on
        [sys.executable, "-m", "etl_orchestrator", "scheduler", "--lease-ttl", "3"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await until("the process leads", lambda: leading_row() is not None, 60)
        row = leading_row()
        assert row is not None
        standby = schedulers("b")
        await asyncio.sleep(0.5)
        leader.kill()
        leader.wait()
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()
    await until("the standby leads", lambda: standby.is_leader)
    await until(
        "the failover alert sent",
        lambda: any(a.kind == SCHEDULER_FAILOVER and a.status == "sent" for a in alerts()),
    )
    await asyncio.sleep(1.0)
    [failover] = [a for a in alerts() if a.kind == SCHEDULER_FAILOVER]
    assert row.worker_id.removeprefix("scheduler:") in failover.message
    assert len(slack.received) == 1, [(a.kind, a.dedup_key, a.message) for a in alerts()]
    assert "Scheduler failover" in str(slack.received[0])


async def test_a_dispatcher_held_up_raises_scheduler_unhealthy_and_resolves_when_it_passes(
    engine: Engine,
    schedulers: Schedulers,
    destinations: tuple[SlackWebhook, Mailbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slack, _mailbox = destinations
    monkeypatch.setenv("ETL_ALERT_STALL_S", "1")
    engine.declare(spec(FAILING, always_fails))
    await engine.start(workers=1, dispatchers=0)
    leader = schedulers("a")
    await until("a leader", lambda: leader.is_leader)
    await until("a dispatcher pass", lambda: leader.last_dispatch_pass is not None)
    # Another session holds the dispatch lock: every dispatch pass waits behind it.
    with db.get_engine().connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": DISPATCH_LOCK_KEY})
        try:
            await until(
                "the open alert",
                lambda: any(a.dedup_key == SCHEDULER_UNHEALTHY + ":open" for a in alerts()),
            )
            await until("its Slack message", lambda: len(slack.received) == 1)
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": DISPATCH_LOCK_KEY})
            holder.commit()
    await until(
        "the alert resolved",
        lambda: [a.dedup_key.endswith(":open") for a in alerts()] == [False],
    )
    [alert] = alerts()
    assert alert.kind == SCHEDULER_UNHEALTHY
    assert "Resolved at" in alert.message
    assert "dispatcher completed no pass" in alert.message


async def test_a_redis_outage_that_stopped_scheduling_is_alerted_once_it_is_over(
    engine: Engine,
    schedulers: Schedulers,
    destinations: tuple[SlackWebhook, Mailbox],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    slack, _mailbox = destinations
    monkeypatch.setenv("ETL_ALERT_STALL_S", "1")
    engine.declare(spec(FAILING, always_fails))
    await engine.start(workers=1, dispatchers=0)
    lease_redis = RedisServer(tmp_path)  # the lease's Redis, not started yet: refused
    try:
        scheduler = schedulers("a", redis_url=lease_redis.url)
        await asyncio.sleep(1.5)
        assert not scheduler.is_leader
        await asyncio.to_thread(lease_redis.start)
        await until("the Redis outage alert sent", lambda: [a.status for a in alerts()] == ["sent"])
    finally:
        lease_redis.kill()
    [alert] = alerts()
    assert alert.kind == SCHEDULER_UNHEALTHY
    assert alert.message.startswith("Redis was unreachable from ")
    assert len(slack.received) == 1
