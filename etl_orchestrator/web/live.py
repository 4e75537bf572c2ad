"""Lifespan task: reads etl:events in a consumer group and refreshes the views that show it.

Every backend worker runs this task; the consumer group hands each event to one of them, so an
event is applied once however many workers run. A view is refreshed at most once a second (a
Redis key per view, shared by the workers), and only runs someone is looking at are reloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from etl_orchestrator.redis_conn import EVENTS_STREAM, async_client

log = logging.getLogger(__name__)

GROUP = "etl-console"
#: Run ids someone has open (sorted set: run id -> when a page last joined, epoch seconds).
WATCHED_RUNS = "etl:web:watched-runs"
WATCH_TTL_S = 3600
#: Set (with WATCH_TTL_S) while someone has a dependency graph open, so statuses are refreshed.
WATCHED_DAG = "etl:web:watched-dag"
THROTTLE_PREFIX = "etl:web:throttle:"
#: Jobs whose runs changed and that no jobs table refresh has read yet (a set per group).
DIRTY_JOBS_PREFIX = "etl:web:dirty-jobs:"
VIEW_INTERVAL_MS = 1000
#: The jobs tables' view: a worker's status change should reach an open table within 500 ms.
JOBS_INTERVAL_MS = 250
#: Jobs refreshed in one go at most (the rest wait for the next turn).
MAX_JOBS_PER_REFRESH = 200
#: Health, slot use and the 24 h counts also change without events: refresh them this often.
PERIODIC_MS = 15_000
IDLE_BLOCK_MS = 5_000
READ_COUNT = 500
#: Statuses worth a toast to the run's requester and to those who have the run on screen, with
#: the word the toast uses (failures are toasted to everyone, separately).
NOTICE_WORDS = {"queued": "queued", "running": "started", "succeeded": "completed"}


@dataclass
class Changes:
    """What happened since a view was last refreshed."""

    statuses: list[tuple[int, str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    #: Queued / started / completed runs ("requested_by" is filled in by the sink).
    notices: list[dict[str, str]] = field(default_factory=list)

    def announcement(self) -> str:
        """One sentence for screen readers about where each changed run is now."""
        latest: dict[int, tuple[str, str]] = {}
        for run_id, job_id, status in self.statuses:
            latest.pop(run_id, None)  # a run that moved again counts once, in its new status
            latest[run_id] = (job_id, status)
        if not latest:
            return ""
        if len(latest) == 1:
            [(run_id, (job_id, status))] = latest.items()
            return f"Run {run_id} of {job_id} is now {status.replace('_', ' ')}"
        tally: dict[str, int] = {}
        for _, status in latest.values():
            tally[status] = tally.get(status, 0) + 1
        parts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(tally.items()))
        return f"{len(latest)} runs changed: {parts}"


class ViewSink(Protocol):
    """Where refreshed views go (the Reflex app's shared states; a recorder in tests).

    A sink may also have `async def jobs(self, job_ids: set[str])`, called (throttled to
    JOBS_INTERVAL_MS) with the jobs whose runs changed, for the open jobs tables.
    """

    async def overview(self, changes: Changes) -> None: ...

    async def run(self, run_id: int) -> None: ...

    async def periodic(self) -> None: ...


class DagViewSink(Protocol):
    """A sink that also shows job statuses on dependency graphs (optional for a ViewSink)."""

    async def dag(self) -> None: ...


def throttle_key(group: str, view: str) -> str:
    """Shared by the group's consumers, so the limit holds however many workers refresh."""
    return f"{THROTTLE_PREFIX}{group}:{view}"


def dirty_jobs_key(group: str) -> str:
    """Shared by the group's consumers: whichever refreshes the jobs tables next takes every
    worker's changed jobs, so a change waits for one throttle turn, not one per worker."""
    return f"{DIRTY_JOBS_PREFIX}{group}"


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def watch_dag(client: redis.Redis) -> None:
    """Note that someone opened a dependency graph, so the live task keeps its statuses fresh."""
    client.set(WATCHED_DAG, "1", ex=WATCH_TTL_S)


def watch_run(client: redis.Redis, run_id: int) -> None:
    """Note that someone opened this run, so the live task keeps its view fresh."""
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.zadd(WATCHED_RUNS, {str(run_id): now})
    pipe.zremrangebyscore(WATCHED_RUNS, "-inf", now - WATCH_TTL_S)
    pipe.execute()


class LiveUpdater:
    """Reads the stream as one consumer of GROUP and feeds a ViewSink, throttled per view."""

    def __init__(
        self, client: aioredis.Redis, sink: ViewSink, *, consumer: str, group: str = GROUP
    ) -> None:
        self._redis = client
        self._sink = sink
        self._consumer = consumer
        self._group = group
        self._pending = Changes()
        self._overview_dirty = False
        self._dirty_runs: set[int] = set()
        self._dag_dirty = False
        #: Changed jobs read from the stream, not yet added to the group's shared set.
        self._dirty_jobs: set[str] = set()
        #: This consumer added jobs to the shared set that may still be waiting there.
        self._jobs_pending = False

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(EVENTS_STREAM, self._group, id="$", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def leave(self) -> None:
        """Remove this consumer from the group (its acknowledged history goes with it)."""
        await self._redis.xgroup_delconsumer(EVENTS_STREAM, self._group, self._consumer)

    def _collect(self, fields: dict[bytes, bytes], entry_id: str) -> None:
        self._overview_dirty = True
        try:
            event: dict[str, Any] = json.loads(fields.get(b"data", b"{}"))
        except ValueError:
            return
        if event.get("kind") != "run" or not isinstance(event.get("run_id"), int):
            return
        run_id, job_id, status = event["run_id"], str(event.get("job_id", "")), str(event["to"])
        self._dirty_runs.add(run_id)
        self._dag_dirty = True
        if job_id:
            self._dirty_jobs.add(job_id)
        self._pending.statuses.append((run_id, job_id, status))
        if status == "failed":
            self._pending.failures.append(
                {
                    "id": f"{run_id}-{entry_id}",
                    "run_id": str(run_id),
                    "job_id": job_id,
                    "status": status,
                    "text": f"Run {run_id} of {job_id} failed",
                }
            )
        elif status in NOTICE_WORDS:
            self._pending.notices.append(
                {
                    "id": f"{run_id}-{entry_id}",
                    "run_id": str(run_id),
                    "job_id": job_id,
                    "status": status,
                    "text": f"Run {run_id} of {job_id} {NOTICE_WORDS[status]}",
                }
            )

    async def read_once(self, block_ms: int) -> int:
        """Read (and acknowledge) what the group hands this consumer; returns how many events."""
        try:
            reply = await self._redis.xreadgroup(
                self._group, self._consumer, {EVENTS_STREAM: ">"}, count=READ_COUNT, block=block_ms
            )
        except ResponseError as error:
            # NOGROUP: Redis was flushed or restarted empty. UNBLOCKED: the stream was deleted
            # while this read waited. Either way the group is gone: start a new one.
            if not str(error).startswith(("NOGROUP", "UNBLOCKED")):
                raise
            await self.ensure_group()
            return 0
        ids = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                ids.append(entry_id)
                self._collect(
                    fields, entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                )
        if ids:
            # Acknowledged at once: a view missed by a crash is refreshed by the next event or
            # the periodic refresh; the database, not this stream, is the truth.
            await self._redis.xack(EVENTS_STREAM, self._group, *ids)
        if self._dirty_jobs and getattr(self._sink, "jobs", None) is not None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.sadd(dirty_jobs_key(self._group), *self._dirty_jobs)
            pipe.expire(dirty_jobs_key(self._group), WATCH_TTL_S)
            await pipe.execute()
            self._dirty_jobs.clear()
            self._jobs_pending = True
        return len(ids)

    async def _claim(self, view: str, interval_ms: int) -> int:
        """0 when this worker may refresh `view` now, else milliseconds until it may."""
        key = throttle_key(self._group, view)
        if await self._redis.set(key, self._consumer, nx=True, px=interval_ms):
            return 0
        wait = int(await self._redis.pttl(key))
        return max(wait, 1)

    async def _dirty_count(self, key: str) -> int:
        # redis-py types a command as sync or async; this client is the asyncio one.
        return int(await cast("Awaitable[int]", self._redis.scard(key)))

    async def _watched(self, run_ids: set[int]) -> set[int]:
        pipe = self._redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.zscore(WATCHED_RUNS, str(run_id))
        scores = await pipe.execute()
        floor = time.time() - WATCH_TTL_S
        return {r for r, s in zip(run_ids, scores, strict=True) if s is not None and s >= floor}

    async def flush(self) -> int:
        """Refresh the views whose turn it is; returns ms until the next one is due (0: none)."""
        next_due = 0

        def due_in(wait: int) -> None:
            nonlocal next_due
            next_due = wait if not next_due else min(next_due, wait)

        # First: the jobs tables have the tightest target (a status change in 500 ms).
        jobs_sink = getattr(self._sink, "jobs", None)
        if self._jobs_pending and jobs_sink is not None:
            dirty = dirty_jobs_key(self._group)
            if not await self._dirty_count(dirty):
                self._jobs_pending = False  # another consumer refreshed them: keep the turn free
            elif wait := await self._claim("jobs", JOBS_INTERVAL_MS):
                due_in(wait)
            else:
                taken = await cast(
                    "Awaitable[list[bytes] | None]", self._redis.spop(dirty, MAX_JOBS_PER_REFRESH)
                )
                batch = {job_id.decode() for job_id in taken or []}
                if batch:
                    await jobs_sink(batch)
                if await self._dirty_count(dirty):
                    due_in(JOBS_INTERVAL_MS)
                else:
                    self._jobs_pending = False
        if self._overview_dirty:
            wait = await self._claim("overview", VIEW_INTERVAL_MS)
            if wait:
                due_in(wait)
            else:
                changes, self._pending = self._pending, Changes()
                self._overview_dirty = False
                await self._sink.overview(changes)
        if self._dirty_runs:
            # A run nobody has open has no view to refresh.
            self._dirty_runs &= await self._watched(self._dirty_runs)
            for run_id in sorted(self._dirty_runs):
                wait = await self._claim(f"run{run_id}", VIEW_INTERVAL_MS)
                if wait:
                    due_in(wait)
                    continue
                self._dirty_runs.discard(run_id)
                await self._sink.run(run_id)
        refresh_dag = getattr(self._sink, "dag", None)
        if self._dag_dirty and refresh_dag is not None:
            if not await self._redis.exists(WATCHED_DAG):
                self._dag_dirty = False  # no graph on screen: nothing to refresh
            elif wait := await self._claim("dag", VIEW_INTERVAL_MS):
                due_in(wait)
            else:
                self._dag_dirty = False
                await refresh_dag()
        if not await self._claim("periodic", PERIODIC_MS):
            await self._sink.periodic()
        return next_due

    async def run(self) -> None:
        """Until cancelled: read, refresh, and ride out Redis outages."""
        delay = 1.0
        while True:
            try:
                await self.ensure_group()
                next_due = 0
                while True:
                    block = min(next_due, IDLE_BLOCK_MS) if next_due else IDLE_BLOCK_MS
                    await self.read_once(block)
                    next_due = await self.flush()
                    delay = 1.0
            except (RedisError, OSError) as error:
                log.warning("live updates paused, Redis: %s (retrying in %.0f s)", error, delay)
            except Exception:
                # A broken view must not stop live updates for every other view.
                log.exception("live updates failed; restarting in %.0f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def run_updater(sink: ViewSink) -> None:
    """Run a LiveUpdater for this process until cancelled, then leave the group."""
    client = async_client()
    updater = LiveUpdater(client, sink, consumer=consumer_name())
    try:
        await updater.run()
    finally:
        with contextlib.suppress(RedisError, OSError):
            await asyncio.shield(updater.leave())
        await client.aclose()
