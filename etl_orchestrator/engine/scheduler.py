"""The scheduler process: hold the leader lease; while leading, fire cron ticks, dispatch, reap.

Every scheduler polls the lease (engine/leader.py) each `poll_s`. The one that holds it runs,
until it loses it: a tick pass each `tick_s` (engine/ticks.py), the Dispatcher
(engine/dispatcher.py), and its hooks: the reaper (`engine.reaper.Reaper`, every 5 s, the
runs it re-dispatches enqueued in arq) and retention (`engine.retention.cleanup_pass()`, every
60 s) and alerts (`etl_orchestrator.alerts.monitor`, every 2 s: the one sender of Slack and
e-mail alerts), each imported lazily and left out while its module does not exist.
The leader renews its lease every third of the TTL; when a renewal fails, or Redis stays
unreachable past the lease's local deadline, it stops ticking, dispatching and reaping at once
and goes back to standby. A standby takes over within about one TTL of the leader's death.

Redis and PostgreSQL outages are logged and retried with backoff; nothing here exits on them.
Every scheduler, leader or standby, heartbeats in dw_etl_workers (see engine/leader.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from types import ModuleType
from typing import Any

from arq.connections import ArqRedis, create_pool
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError

from etl_orchestrator.config import ConfigError
from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.dispatcher import Dispatcher
from etl_orchestrator.engine.leader import (
    LeaderLease,
    record_heartbeat,
    record_stopped,
    scheduler_id,
)
from etl_orchestrator.engine.ticks import Clock, run_tick_pass
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.redis_conn import arq_settings, async_client
from etl_orchestrator.timeutil import utcnow

log = logging.getLogger(__name__)
#: How long a stopping dispatcher may finish the pass in hand (and enqueue it) before cancel.
DISPATCHER_STOP_GRACE_S = 2.0
MAX_BACKOFF_S = 30.0
#: Outages of Redis or the database: logged without a traceback, retried with backoff.
TRANSIENT = (SQLAlchemyOperationalError, RedisError, OSError, TimeoutError)
REAPER_MODULE = "etl_orchestrator.engine.reaper"
RETENTION_MODULE = "etl_orchestrator.engine.retention"
ALERTS_MODULE = "etl_orchestrator.alerts.monitor"
REAP_EVERY_S = 5.0
#: Test-only fault switch: a scheduler started with it set to 1 runs no reaper, so the fault
#: drills can prove they fail without it. Never set it in production.
FAULT_NO_REAPER_ENV = "ETL_FAULT_DISABLE_REAPER"
CLEANUP_EVERY_S = 60.0


@dataclass(frozen=True)
class Hook:
    """Work only the leader does, every `every_s` seconds: a function run in a thread, or a
    coroutine function awaited."""

    name: str
    fn: Callable[[], Any]
    every_s: float


def optional_module(name: str) -> ModuleType | None:
    """The module, or None while it is not part of this installation."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise  # the module exists but something it imports is missing: a real bug
        log.debug("%s is not installed; the scheduler goes without it", name)
        return None


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    """Until `event` is set or `timeout_s` passes.

    Not asyncio.wait_for: on Python 3.11 it swallows a cancel that lands as the event is set,
    and a task that must stop would then run on.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()


async def _call(fn: Callable[[], Any]) -> None:
    if inspect.iscoroutinefunction(fn):
        await fn()
    else:
        await asyncio.to_thread(fn)


class Scheduler:
    """One scheduler instance: a standby until it holds the lease, then the leader."""

    def __init__(
        self,
        *,
        lease_ttl_s: float = 10.0,
        poll_s: float = 1.0,
        tick_s: float = 1.0,
        heartbeat_s: float = 5.0,
        dispatcher_idle_s: float = 1.0,
        clock: Clock | None = None,
        specs: Mapping[str, JobSpec] | None = None,
        hooks: Sequence[Hook] | None = None,
        redis_url: str | None = None,
        instance: str | None = None,
    ) -> None:
        self.host = socket.gethostname()
        self.pid = os.getpid()
        #: dw_etl_workers row: scheduler:<host>:<pid>, plus `instance` when one process runs two.
        self.worker_id = scheduler_id(self.host, self.pid) + (f":{instance}" if instance else "")
        #: Unique per instance, so a restarted process never mistakes an old lease for its own.
        self.holder = f"{self.worker_id.removeprefix('scheduler:')}:{uuid.uuid4().hex[:8]}"
        self.lease_ttl_s = lease_ttl_s
        self.poll_s = poll_s
        self.tick_s = tick_s
        self.heartbeat_s = heartbeat_s
        self.dispatcher_idle_s = dispatcher_idle_s
        self.clock = clock
        self.specs = specs
        self.redis_url = redis_url
        self._reaper: Any = None
        self._arq: ArqRedis | None = None
        self.hooks = list(hooks) if hooks is not None else self.default_hooks()
        self.lease: LeaderLease | None = None
        self._stop = asyncio.Event()
        self._beat_now = asyncio.Event()
        self._leader_tasks: list[asyncio.Task[None]] = []
        self._dispatcher: Dispatcher | None = None
        #: Monotonic times: since when this scheduler leads, and its dispatcher's last pass
        #: (the alert monitor's stall check reads them).
        self.leading_since: float | None = None
        self.last_dispatch_pass: float | None = None
        #: Redis outages this scheduler saw, (UTC start, seconds), for the alert monitor to take.
        self.redis_outages: list[tuple[datetime, float]] = []
        self._redis_down_since: tuple[float, datetime] | None = None

    def default_hooks(self) -> list[Hook]:
        """The reaper (every 5 s) and retention cleanup (every 60 s), where installed."""
        hooks: list[Hook] = []
        reaper = optional_module(REAPER_MODULE)
        if os.environ.get(FAULT_NO_REAPER_ENV) == "1":
            log.warning(
                "%s=1: the reaper is disabled (a test-only fault switch)", FAULT_NO_REAPER_ENV
            )
            reaper = None
        if reaper is not None:
            self._reaper = reaper.Reaper()
            if reaper.lease_s() <= REAP_EVERY_S:
                # Every pass would look like the first after an outage (which waits one lease
                # more), and nothing would ever be reaped.
                raise ConfigError(
                    f"{reaper.LEASE_ENV}={reaper.lease_s():g} is too short for the scheduler: "
                    f"it must be longer than the {REAP_EVERY_S:g} s between reaper passes"
                )
            hooks.append(Hook(name="reaper", fn=self._reap, every_s=REAP_EVERY_S))
        retention = optional_module(RETENTION_MODULE)
        if retention is not None:
            hooks.append(Hook(name="retention", fn=retention.cleanup_pass, every_s=CLEANUP_EVERY_S))
        alerts = optional_module(ALERTS_MODULE)
        if alerts is not None:
            # Alerts are detected and sent by the leader only: one sender for the whole system.
            monitor = alerts.AlertMonitor(self)
            hooks.append(Hook(name="alerts", fn=monitor.run_pass, every_s=monitor.config.every_s))
        return hooks

    async def _reap(self) -> None:
        """A reaper pass; the runs it dispatches again are enqueued in arq."""
        if self._arq is None:
            self._arq = await create_pool(arq_settings())
        try:
            await self._reaper.run_and_enqueue(self._arq)
        except (RedisError, OSError):
            await self._close_arq()
            raise

    async def _close_arq(self) -> None:
        pool, self._arq = self._arq, None
        if pool is not None:
            with contextlib.suppress(RedisError, OSError):
                await pool.aclose()

    @property
    def is_leader(self) -> bool:
        return bool(self._leader_tasks) and self.lease is not None and self.lease.held()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Until stop(): lead when the lease is free, stand by otherwise."""
        client = async_client(self.redis_url)
        self.lease = LeaderLease(client, self.holder, ttl_s=self.lease_ttl_s)
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        try:
            delay = self.poll_s
            while not self._stop.is_set():
                try:
                    wait_s = await self._lease_step(self.lease)
                    delay = self.poll_s
                    self._redis_back()
                except (RedisError, OSError, TimeoutError) as error:
                    if self._redis_down_since is None:
                        self._redis_down_since = (time.monotonic(), utcnow())
                    if self._leader_tasks and not self.lease.held():
                        log.warning("scheduler: lease deadline passed without Redis; standing by")
                        await self._step_down()
                    log.warning(
                        "scheduler: Redis unavailable (%s); retrying in %.1f s", error, delay
                    )
                    wait_s = delay
                    delay = min(delay * 2, MAX_BACKOFF_S, max(self.poll_s, self.lease_ttl_s / 3))
                await _wait(self._stop, wait_s)
        finally:
            # Only a stop() hands the lease over at once; a cancelled or failed scheduler is
            # treated like a dead one: its lease expires and its heartbeat ages.
            graceful = self._stop.is_set()
            await self._step_down()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if graceful:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await self.lease.release()
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._stopped)
            await self._close_arq()
            await client.aclose()

    async def _lease_step(self, lease: LeaderLease) -> float:
        """Acquire or renew; returns how long to wait before the next step."""
        renew_every = self.lease_ttl_s / 3
        io_timeout = max(0.5, renew_every)
        if self._leader_tasks:
            async with asyncio.timeout(io_timeout):
                renewed = await lease.renew()
            if renewed:
                return renew_every
            log.warning("scheduler %s: lost the leader lease; standing by", self.holder)
            await self._step_down()
            return self.poll_s
        async with asyncio.timeout(io_timeout):
            token = await lease.acquire()
        if token is None:
            return self.poll_s
        log.info("scheduler %s: leading (fencing token %d)", self.holder, token)
        self._lead()
        return renew_every

    def _lead(self) -> None:
        self._dispatcher = Dispatcher(idle_s=self.dispatcher_idle_s, on_pass=self._dispatched)
        self.leading_since, self.last_dispatch_pass = time.monotonic(), None
        self._leader_tasks = [
            asyncio.create_task(self._dispatch_loop(self._dispatcher)),
            asyncio.create_task(self._every(self.tick_s, "tick pass", self._tick)),
            *(
                asyncio.create_task(self._every(hook.every_s, hook.name, partial(_call, hook.fn)))
                for hook in self.hooks
            ),
        ]
        self._beat_now.set()

    async def _step_down(self) -> None:
        if self.lease is not None:
            self.lease.forget()
        tasks, self._leader_tasks = self._leader_tasks, []
        self.leading_since = None
        dispatcher, self._dispatcher = self._dispatcher, None
        if not tasks:
            return
        if dispatcher is not None:
            dispatcher.stop()
        for task in tasks[1:]:
            task.cancel()
        # The dispatcher may finish the pass in hand so its dispatches get enqueued.
        await asyncio.wait({tasks[0]}, timeout=DISPATCHER_STOP_GRACE_S)
        tasks[0].cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._beat_now.set()

    def _redis_back(self) -> None:
        if self._redis_down_since is not None:
            began, began_at = self._redis_down_since
            self._redis_down_since = None
            self.redis_outages = [*self.redis_outages[-9:], (began_at, time.monotonic() - began)]

    def _dispatched(self, _result: Any) -> None:
        self.last_dispatch_pass = time.monotonic()

    async def _dispatch_loop(self, dispatcher: Dispatcher) -> None:
        """Dispatcher.run() handles passing outages itself; start it again if it ever dies."""
        delay = 1.0
        while True:
            try:
                await dispatcher.run()
                return  # stopped
            except (RedisError, OSError, TimeoutError) as error:
                log.warning("dispatcher stopped (%s); starting again in %.1f s", error, delay)
            except Exception:
                log.exception("dispatcher failed; starting again in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)

    async def _every(
        self, every_s: float, what: str, step: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        delay = every_s
        while True:
            if self.lease is not None and self.lease.held():
                try:
                    await step()
                    delay = every_s
                except Exception as error:
                    if isinstance(error, TRANSIENT):
                        log.warning(
                            "scheduler: %s failed (%s); retry in %.1f s", what, error, delay
                        )
                    else:
                        # One bad pass must not end the scheduler: say it loudly, then go on.
                        log.exception("scheduler: %s failed; retry in %.1f s", what, delay)
                    await asyncio.sleep(delay)
                    delay = min(max(delay, 0.5) * 2, MAX_BACKOFF_S)
                    continue
            await asyncio.sleep(every_s)

    async def _tick(self) -> None:
        result = await asyncio.to_thread(run_tick_pass, self.clock, self.specs)
        for job_id, tick in result.created:
            log.info("cron tick %s for %s: batch created", tick.isoformat(), job_id)

    async def _heartbeat_loop(self) -> None:
        while True:
            self._beat_now.clear()
            try:
                await asyncio.to_thread(self._beat, self.is_leader)
            except Exception as error:
                log.warning("scheduler heartbeat failed: %s", error)
            await _wait(self._beat_now, self.heartbeat_s)

    def _beat(self, leading: bool) -> None:
        with session_scope() as session:
            record_heartbeat(session, self.worker_id, self.host, self.pid, leading)

    def _stopped(self) -> None:
        with session_scope() as session:
            record_stopped(session, self.worker_id)
