"""The dispatcher loop: a pass on every run change (read from etl:events) and on a short timer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from arq.connections import ArqRedis, create_pool
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session, col, func, select

from etl_orchestrator.db import db_now, get_engine, session_scope
from etl_orchestrator.engine.dispatch import Dispatch, PassResult, dispatch_pass
from etl_orchestrator.models import Run
from etl_orchestrator.redis_conn import (
    EVENTS_STREAM,
    WAKE_MAXLEN,
    WAKE_STREAM,
    arq_settings,
    async_client,
)
from etl_orchestrator.states import RunStatus

log = logging.getLogger(__name__)
ARQ_FUNCTION = "run_attempt"
#: Set with NX on every step: when it is missing, Redis lost its data since the last step.
SENTINEL_KEY = "etl:dispatcher:sentinel"
OUTAGE_RETRY_S = 0.5
MAX_OUTAGE_RETRY_S = 5.0
#: Statuses after which a slot may be free or a dependent may be ready.
WAKING = frozenset(
    {
        None,
        RunStatus.QUEUED,
        RunStatus.RETRYING,
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.UPSTREAM_FAILED,
    }
)


def run_pass() -> tuple[PassResult, float | None]:
    with session_scope() as session:
        result = dispatch_pass(session)
        return result, seconds_to_next_retry(session)


def seconds_to_next_retry(session: Session) -> float | None:
    due = session.exec(
        select(func.min(Run.next_attempt_at)).where(col(Run.status) == RunStatus.RETRYING)
    ).one()
    if due is None:
        return None
    return max(0.0, (due - db_now(session)).total_seconds())


def dispatched_runs() -> list[Dispatch]:
    """The current attempt of every dispatched run, to enqueue again after a Redis outage."""
    with session_scope() as session:
        rows = session.execute(
            select(Run.run_id, Run.attempts, Run.attempt_token, Run.job_id).where(
                col(Run.status) == RunStatus.DISPATCHED
            )
        )
        return [
            Dispatch(run_id=run_id or 0, attempt=attempt, token=token or "", job_id=job_id)
            for run_id, attempt, token, job_id in rows
        ]


#: arq's enqueue, made one atomic script per job so a whole pass goes in one round trip:
#: a job id that is queued, running or has a result is left alone, as arq does.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""


async def enqueue(pool: ArqRedis, dispatches: list[Dispatch]) -> None:
    """Send dispatches to arq; a job id arq already holds is skipped, so sending twice is safe.

    arq's own enqueue_job awaits three round trips per job; a fan-out of 64 runs then spent
    most of its dispatch time here. A lost enqueue leaves the run dispatched: the Dispatcher
    sends it again once Redis is back, and the reaper re-dispatches it after a timeout.
    """
    if not dispatches:
        return
    pipe = pool.pipeline(transaction=False)
    now_ms = timestamp_ms()
    for item in dispatches:
        job = serialize_job(
            ARQ_FUNCTION,
            (item.run_id, item.attempt, item.token),
            {},
            None,
            now_ms,
            serializer=pool.job_serializer,
        )
        job_id = item.arq_job_id
        pipe.eval(
            _ENQUEUE,
            3,
            job_key_prefix + job_id,
            result_key_prefix + job_id,
            pool.default_queue_name,
            pool.expires_extra_ms,
            job,
            now_ms,
            job_id,
        )
    pipe.xadd(WAKE_STREAM, {"n": len(dispatches)}, maxlen=WAKE_MAXLEN, approximate=True)
    await pipe.execute()


class Dispatcher:
    """Dispatch passes woken by run events; `idle_s` bounds the wait when nothing happens."""

    def __init__(self, *, idle_s: float = 1.0, on_pass: Callable[[PassResult], None] | None = None):
        self.idle_s = idle_s
        self.on_pass = on_pass
        self._stop = asyncio.Event()
        self._last_id = "0-0"
        # Re-send dispatched runs' queue entries at start and after Redis trouble (arq dedupes).
        self._resync = True

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        get_engine()
        pool: ArqRedis | None = None
        events: aioredis.Redis | None = None
        delay = OUTAGE_RETRY_S
        try:
            while not self._stop.is_set():
                try:
                    if pool is None:
                        pool = await create_pool(arq_settings())
                    if events is None:
                        events = async_client()
                        latest = await events.xrevrange(EVENTS_STREAM, count=1)
                        self._last_id = _decode(latest[0][0]) if latest else "0-0"
                    await self._step(pool, events)
                    delay = OUTAGE_RETRY_S
                except (OperationalError, InterfaceError, RedisError, OSError) as error:
                    if not isinstance(error, OperationalError | InterfaceError):
                        # Enqueues may have been lost with the connection: send them again.
                        self._resync = True
                    log.warning("dispatcher: %s; retrying in %.1f s", error, delay)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
                    delay = min(delay * 2, MAX_OUTAGE_RETRY_S)
        finally:
            if events is not None:
                await events.aclose()
            if pool is not None:
                await pool.aclose()

    async def _step(self, pool: ArqRedis, events: aioredis.Redis) -> None:
        await self._notice_data_loss(events)
        if self._resync:
            await enqueue(pool, await asyncio.to_thread(dispatched_runs))
            self._resync = False
        result, next_retry = await asyncio.to_thread(run_pass)
        if result.dispatched:
            await enqueue(pool, result.dispatched)
        if self.on_pass:
            self.on_pass(result)
        timeout = self.idle_s if next_retry is None else min(self.idle_s, next_retry)
        await self._wait_for_event(events, timeout)

    async def _notice_data_loss(self, events: aioredis.Redis) -> None:
        """Detect a Redis that lost its data (flush, or restart without persistence).

        The sentinel key vanishes with the data: then every dispatched run's queue entry may be
        gone too. A stream recreated behind our read position would never deliver to XREAD.
        """
        pipe = events.pipeline(transaction=False)
        pipe.set(SENTINEL_KEY, "1", nx=True)
        pipe.xrevrange(EVENTS_STREAM, count=1)
        created, latest = await pipe.execute()
        if created:
            self._resync = True
        newest = _decode(latest[0][0]) if latest else "0-0"
        if _stream_id(newest) < _stream_id(self._last_id):
            log.warning("etl:events restarted behind our position; reading it from the start")
            self._last_id = "0-0"

    async def _wait_for_event(self, events: aioredis.Redis, wait_s: float) -> None:
        """Block on etl:events until something that can free a slot or unblock a run arrives."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while not self._stop.is_set():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            reply = await events.xread(
                {EVENTS_STREAM: self._last_id}, block=max(1, int(remaining * 1000)), count=500
            )
            if not reply:
                return
            wake = False
            for _stream, entries in reply:
                for entry_id, fields in entries:
                    self._last_id = _decode(entry_id)
                    wake = wake or _wakes(fields)
            if wake:
                return


def _stream_id(value: str) -> tuple[int, int]:
    millis, _, seq = value.partition("-")
    return int(millis or 0), int(seq or 0)


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _wakes(fields: dict[bytes, bytes]) -> bool:
    try:
        event = json.loads(fields[b"data"])
    except (KeyError, ValueError):
        return True
    return event.get("kind") != "run" or event.get("to") in WAKING
