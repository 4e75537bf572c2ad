"""What the active scheduler does for alerts: detect failures and trouble, then deliver.

Only the leader runs this (a scheduler Hook, engine/scheduler.py), so web workers never send and
a standby only starts once it leads. Each pass:

1. Detection (in a thread, one transaction): an alert row per run that newly failed for good
   (dedup key ``run_failed:<run_id>``), and the systemic checks this scheduler can see itself:
   - ``no_workers``: no worker heartbeat within WORKER_LIVE_S for `no_workers_s`;
   - ``scheduler_unhealthy``: this leader's dispatcher has completed no pass for `stall_s`
     (PostgreSQL or Redis unreachable, or the dispatcher stuck); the message names what the
     monitor itself could not reach. Written once PostgreSQL answers again if it was the cause;
   - ``scheduler_failover``: an earlier leader stopped heart-beating without handing over and
     this scheduler took over. A dead scheduler with no standby cannot alert about itself:
     then the console's health banner ("the scheduler's last heartbeat was N s ago") is the
     signal, and the failover alert follows when a scheduler starts again.
   An ongoing systemic alert has the dedup key ``<kind>:open`` (one at a time, whichever
   scheduler leads); it is resolved when the condition clears.
2. Delivery (async): due destinations are claimed in the database, then sent concurrently,
   each bounded by its timeout, and the outcome recorded (retry with exponential backoff).
   The dispatcher runs in its own task and never waits for this.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func
from sqlmodel import Session, col, select

from etl_orchestrator.alerts import email as email_channel
from etl_orchestrator.alerts import outbox, slack
from etl_orchestrator.alerts.message import (
    NO_WORKERS,
    RUN_FAILED,
    SCHEDULER_FAILOVER,
    SCHEDULER_UNHEALTHY,
    AlertMessage,
    kind_label,
    run_link,
)
from etl_orchestrator.config import ConfigError, Settings, get_settings
from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.engine.leader import SCHEDULER_PREFIX
from etl_orchestrator.models import Run, WorkerRecord
from etl_orchestrator.timeutil import as_utc, iso

log = logging.getLogger(__name__)

WORKER_LIVE_S = 15.0
#: Schedulers heartbeat every 5 s: three missed beats while marked leading and it died.
SCHEDULER_DEAD_S = 15.0
#: Failovers older than this at start are history, not news.
FAILOVER_HORIZON_S = 600.0


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} is invalid: must be a number of seconds above 0")
    return value


class SchedulerView(Protocol):
    """What the monitor reads from its scheduler (engine/scheduler.py Scheduler)."""

    worker_id: str
    leading_since: float | None
    last_dispatch_pass: float | None
    #: (UTC start, seconds) of Redis outages it saw; the monitor takes them.
    redis_outages: list[tuple[datetime, float]]


@dataclass
class Episode:
    since: datetime | None = None
    written: bool = False
    causes: set[str] = field(default_factory=set)


@dataclass
class AlertConfig:
    every_s: float = 2.0
    lookback_s: float = 900.0
    no_workers_s: float = 60.0
    stall_s: float = 60.0
    #: A scheduler row marked leading and silent this long is a leader that died.
    scheduler_dead_s: float = SCHEDULER_DEAD_S
    send_timeout_s: float = 10.0
    retry: outbox.RetryPolicy = field(default_factory=outbox.RetryPolicy)

    @classmethod
    def from_env(cls) -> AlertConfig:
        return cls(
            every_s=_env_seconds("ETL_ALERT_EVERY_S", 2.0),
            no_workers_s=_env_seconds("ETL_ALERT_NO_WORKERS_S", 60.0),
            stall_s=_env_seconds("ETL_ALERT_STALL_S", 60.0),
            scheduler_dead_s=_env_seconds("ETL_ALERT_SCHEDULER_DEAD_S", SCHEDULER_DEAD_S),
            send_timeout_s=_env_seconds("ETL_ALERT_SEND_TIMEOUT_S", 10.0),
            retry=outbox.RetryPolicy(base_s=_env_seconds("ETL_ALERT_RETRY_BASE_S", 5.0)),
        )


class AlertMonitor:
    """Detection and delivery for one scheduler; `run_pass` is its leader-only hook."""

    def __init__(
        self,
        scheduler: SchedulerView,
        *,
        config: AlertConfig | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.config = config or AlertConfig.from_env()
        self._settings = settings
        self.episodes: dict[str, Episode] = {NO_WORKERS: Episode(), SCHEDULER_UNHEALTHY: Episode()}
        #: Monotonic time the dispatcher's last pass before a stall; set while it lasts.
        self._stall_since: float | None = None
        self._stall_over = False
        self._stall_written = False

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    async def run_pass(self) -> None:
        # Taken here, in the scheduler's event loop, where it appends them.
        outages, self.scheduler.redis_outages = self.scheduler.redis_outages, []
        try:
            await asyncio.to_thread(self.detect, outages)
        except BaseException:
            self.scheduler.redis_outages = outages + self.scheduler.redis_outages
            raise
        await self.deliver()

    # -- detection ---------------------------------------------------------------------------

    def detect(self, redis_outages: list[tuple[datetime, float]] | None = None) -> None:
        now_mono = time.monotonic()
        self._observe_stall(now_mono)
        dests = outbox.destinations(self.settings)
        try:
            with session_scope() as session:
                now = db_now(session)
                created = outbox.detect_run_failures(session, dests, self.config.lookback_s)
                self._failovers(session, now, dests)
                self._no_workers(session, now, dests)
                self._stall(session, now, now_mono, dests)
                self._redis_outages(session, now, redis_outages or [], dests)
        except Exception as error:
            # Remember PostgreSQL trouble for the stall alert written once it answers again.
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            cause = reason[0][:200] if reason else type(error).__name__
            self.episodes[SCHEDULER_UNHEALTHY].causes.add(f"PostgreSQL: {cause}")
            raise
        for run_id in created:
            log.info("alert recorded for failed run %s", run_id)

    def _failovers(self, session: Session, now: datetime, dests: list[str]) -> None:
        stale = now - timedelta(seconds=self.config.scheduler_dead_s)
        rows = session.exec(
            select(WorkerRecord).where(
                col(WorkerRecord.worker_id).startswith(SCHEDULER_PREFIX),
                col(WorkerRecord.worker_id) != self.scheduler.worker_id,
                col(WorkerRecord.running) > 0,
                col(WorkerRecord.stopped_at).is_(None),
                col(WorkerRecord.last_heartbeat_at) < stale,
                col(WorkerRecord.last_heartbeat_at) >= now - timedelta(seconds=FAILOVER_HORIZON_S),
            )
        ).all()
        for row in rows:
            beat = as_utc(row.last_heartbeat_at)
            alert = outbox.record(
                session,
                kind=SCHEDULER_FAILOVER,
                severity="warning",
                dedup_key=f"{SCHEDULER_FAILOVER}:{row.worker_id}:{iso(beat)}",
                message=(
                    f"Scheduler {row.worker_id.removeprefix(SCHEDULER_PREFIX)} stopped "
                    f"heart-beating at {iso(beat)} without handing over; "
                    f"{self.scheduler.worker_id.removeprefix(SCHEDULER_PREFIX)} leads now. "
                    "Check the stopped scheduler's host and log."
                ),
                dests=dests,
            )
            if alert is not None:
                log.warning("alert: scheduler %s presumed dead; took over", row.worker_id)

    def _no_workers(self, session: Session, now: datetime, dests: list[str]) -> None:
        live = session.exec(
            select(func.count()).where(
                ~col(WorkerRecord.worker_id).startswith(SCHEDULER_PREFIX),
                col(WorkerRecord.stopped_at).is_(None),
                col(WorkerRecord.last_heartbeat_at) >= now - timedelta(seconds=WORKER_LIVE_S),
            )
        ).one()
        self._episode(
            session,
            NO_WORKERS,
            trouble=int(live) == 0,
            now=now,
            threshold_s=self.config.no_workers_s,
            dests=dests,
            describe=lambda since: (
                f"No worker has sent a heartbeat since {iso(since)}: queued runs are not "
                "executed. Start one with `etl-orchestrator worker`."
            ),
        )

    def _redis_outages(
        self,
        session: Session,
        now: datetime,
        outages: list[tuple[datetime, float]],
        dests: list[str],
    ) -> None:
        """Redis outages long enough to matter, told after the fact: during one this scheduler
        cannot hold the lease, so no scheduler leads and nothing is dispatched."""
        for began, seconds in outages:
            if seconds < self.config.stall_s:
                continue
            ended = began + timedelta(seconds=seconds)
            if (now - ended).total_seconds() > FAILOVER_HORIZON_S:
                continue  # seen by a standby long ago: history, not news
            outbox.record(
                session,
                kind=SCHEDULER_UNHEALTHY,
                dedup_key=f"{SCHEDULER_UNHEALTHY}:redis:{began:%Y%m%dT%H%M}",
                message=(
                    f"Redis was unreachable from {iso(began)} for {seconds:.0f} s: no scheduler "
                    "could lead, so no run was scheduled or dispatched meanwhile. Resolved at "
                    f"{iso(ended)}. Check the Redis server's log and memory."
                ),
                dests=dests,
            )
            log.warning("alert: Redis unreachable for %.0f s from %s", seconds, iso(began))

    def _observe_stall(self, now_mono: float) -> None:
        """Note a dispatcher stall in memory first: PostgreSQL may be what stalls it."""
        led = self.scheduler.leading_since
        if led is None:
            self._stall_since = None
            return
        last = max(led, self.scheduler.last_dispatch_pass or 0.0)
        if now_mono - last >= self.config.stall_s:
            if self._stall_since is None:
                self._stall_since = last
                self._stall_written = False
        elif self._stall_since is not None:
            self._stall_over = True
        else:
            self.episodes[SCHEDULER_UNHEALTHY].causes.clear()  # a blip, not a stall

    def _stall(self, session: Session, now: datetime, now_mono: float, dests: list[str]) -> None:
        kind = SCHEDULER_UNHEALTHY
        if self._stall_since is None:
            if outbox.has_open(session, kind):  # a previous leader's stall: this one passes
                led = self.scheduler.leading_since
                if led is not None and self.scheduler.last_dispatch_pass is not None:
                    outbox.resolve_open(session, kind, f"Resolved at {iso(now)}.")
            return
        since = now - timedelta(seconds=max(0.0, now_mono - self._stall_since))
        causes = sorted(self.episodes[kind].causes)
        text = (
            f"The dispatcher completed no pass from {iso(since)}"
            + (f" ({'; '.join(causes)})" if causes else "")
            + ": runs were not dispatched meanwhile. Check PostgreSQL, Redis and the "
            "scheduler log."
        )
        if self._stall_over:
            if self._stall_written:
                outbox.resolve_open(session, kind, f"Resolved at {iso(now)}.")
            else:
                # It began and ended while nothing could be written: tell it after the fact.
                outbox.record(
                    session,
                    kind=kind,
                    dedup_key=f"{kind}:{iso(since)}",
                    message=f"{text} Resolved at {iso(now)}.",
                    dests=dests,
                )
            log.warning("alert: %s from %s, over", kind, iso(since))
            self._stall_since, self._stall_over, self._stall_written = None, False, False
            self.episodes[kind] = Episode()
            return
        if not self._stall_written:
            if not outbox.has_open(session, kind):
                outbox.record(
                    session, kind=kind, dedup_key=kind + outbox.OPEN_SUFFIX, message=text,
                    dests=dests,
                )  # fmt: skip
                log.warning("alert: %s since %s", kind, iso(since))
            self._stall_written = True

    def _episode(
        self,
        session: Session,
        kind: str,
        *,
        trouble: bool,
        now: datetime,
        threshold_s: float,
        dests: list[str],
        describe: Any,
        since: datetime | None = None,
    ) -> None:
        episode = self.episodes[kind]
        if trouble:
            if episode.since is None:
                episode.since = since or now
            if not episode.written and (now - episode.since).total_seconds() >= threshold_s:
                if outbox.has_open(session, kind):
                    episode.written = True  # another leader already told, before a failover
                    return
                alert = outbox.record(
                    session,
                    kind=kind,
                    dedup_key=kind + outbox.OPEN_SUFFIX,
                    message=describe(episode.since),
                    dests=dests,
                )
                episode.written = alert is not None or outbox.has_open(session, kind)
                log.warning("alert: %s since %s", kind, iso(episode.since))
            return
        if episode.since is not None or outbox.has_open(session, kind):
            outbox.resolve_open(session, kind, f"Resolved at {iso(now)}.")
        self.episodes[kind] = Episode()

    # -- delivery ----------------------------------------------------------------------------

    async def deliver(self) -> None:
        claim_s = self.config.send_timeout_s + 5.0
        claims = await asyncio.to_thread(self._claim, claim_s)
        if not claims:
            return
        settings = self.settings
        results = await asyncio.gather(
            *(self._send(settings, claim) for claim in claims), return_exceptions=True
        )
        outcomes = [
            (claim, None if result is None else str(result))
            for claim, result in zip(claims, results, strict=True)
        ]
        await asyncio.to_thread(self._record, outcomes)

    def _claim(self, claim_s: float) -> list[outbox.Claim]:
        with session_scope() as session:
            return outbox.claim_due(session, claim_s=claim_s)

    def _record(self, outcomes: list[tuple[outbox.Claim, str | None]]) -> None:
        with session_scope() as session:
            for claim, error in outcomes:
                status = outbox.record_outcome(session, claim, error, self.config.retry)
                if error is None:
                    log.info("alert %s sent to %s", claim.alert_id, claim.channel)
                else:
                    log.warning(
                        "alert %s to %s failed (attempt %d, now %s): %s",
                        claim.alert_id, claim.channel, claim.attempt, status, error,
                    )  # fmt: skip

    async def _send(self, settings: Settings, claim: outbox.Claim) -> None:
        message = await asyncio.to_thread(build_message, settings, claim)
        timeout_s = self.config.send_timeout_s
        # A destination that hangs costs at most its timeout (plus connect), never the loop.
        async with asyncio.timeout(timeout_s + 2.0):
            if claim.channel == outbox.SLACK:
                if not settings.slack_webhook_url:
                    raise slack.DeliveryError("SLACK_WEBHOOK_URL is no longer set")
                await slack.send(
                    settings.slack_webhook_url, slack.build_payload(message), timeout_s=timeout_s
                )
            elif claim.channel == outbox.EMAIL:
                target = smtp_target(settings)
                if target is None:
                    raise slack.DeliveryError("SMTP_HOST or ALERT_EMAIL_TO is no longer set")
                mail = email_channel.build_email(message, target.sender, target.recipients)
                await asyncio.to_thread(email_channel.send, target, mail, timeout_s=timeout_s)
            else:
                raise slack.DeliveryError(f"unknown destination {claim.channel!r}")


def smtp_target(settings: Settings) -> email_channel.SmtpTarget | None:
    recipients = email_channel.recipients_of(settings.alert_email_to)
    if not settings.smtp_host or not recipients:
        return None
    return email_channel.SmtpTarget(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        sender=settings.alert_email_from,
        recipients=recipients,
    )


def build_message(settings: Settings, claim: outbox.Claim) -> AlertMessage:
    """The message of a claimed alert; a failed run's facts are read fresh from its row."""
    lines: list[tuple[str, str]] = []
    link = None
    title = kind_label(claim.kind)
    if claim.kind == RUN_FAILED and claim.run_id is not None:
        link = run_link(settings.base_url, claim.run_id)
        title = f"Run {claim.run_id} of {claim.job_id} failed"
        with session_scope() as session:
            run = session.get(Run, claim.run_id)
            if run is not None:
                lines = [
                    ("Job", run.job_id),
                    ("Run", str(run.run_id)),
                    ("Attempts", f"{run.attempts} of {run.max_attempts}"),
                    ("Trigger", run.trigger),
                ]
                if run.error_class:
                    lines.append(("Error class", run.error_class))
                if run.ended_at is not None:
                    lines.append(("Failed at", f"{iso(as_utc(run.ended_at))} UTC"))
                if run.error_excerpt:
                    lines.append(("Error", run.error_excerpt.strip()[:500]))
    else:
        link = f"{settings.base_url.rstrip('/')}/status"
    return AlertMessage(
        kind=claim.kind,
        severity=claim.severity,
        title=title,
        summary=claim.message,
        created_at=claim.created_at,
        link=link,
        link_text="Open the run" if claim.kind == RUN_FAILED else "Open the status page",
        lines=lines,
        env=settings.etl_env,
    )
