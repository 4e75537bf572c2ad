"""Cancel requests for running attempts: sent on etl:cancel after commit, acted on by each worker.

Cancelling a running run first moves it to `cancelled` in the database (so a late result cannot
overwrite it), then asks the worker holding the attempt to kill it. Every worker tails the capped
etl:cancel stream (each one sees every request; only the one running the attempt acts) and sets
the attempt's cancel event, which makes `isolation.run_in_child` send SIGUSR1, wait its grace
and SIGKILL the child's process group. The stream is fast but not the truth: each worker also
checks in the database every few seconds that the runs it executes are still running on it, so
an attempt whose run was cancelled or reaped is stopped even if a request never arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import event, select
from sqlmodel import Session

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.db_calls import Threaded
from etl_orchestrator.redis_conn import async_client, sync_client
from etl_orchestrator.states import RUNS, RunStatus

log = logging.getLogger(__name__)

CANCEL_STREAM = "etl:cancel"
CANCEL_MAXLEN = 10_000
#: How often a worker confirms in the database that its attempts are still wanted.
SWEEP_S = 3.0
BLOCK_MS = 5_000
_OUTBOX = "etl_cancel_outbox"


def request_cancel(session: Session, *, run_id: int, actor: str, reason: str) -> None:
    """Ask the worker running `run_id` to kill its attempt, once `session` commits."""
    session.info.setdefault(_OUTBOX, []).append(
        {"run_id": run_id, "actor": actor, "reason": reason}
    )


def publish(requests: list[dict[str, Any]]) -> None:
    """Best effort: a lost request is still acted on by the workers' database check."""
    try:
        pipe = sync_client().pipeline(transaction=False)
        for request in requests:
            pipe.xadd(
                CANCEL_STREAM,
                {"data": json.dumps(request)},
                maxlen=CANCEL_MAXLEN,
                approximate=True,
            )
        pipe.execute()
    except RedisError as error:
        log.warning(
            "could not send %d cancel request(s) on %s: %s; the workers stop the attempt(s) "
            "within %g s by checking the database",
            len(requests),
            CANCEL_STREAM,
            error,
            SWEEP_S,
        )


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    requests: list[dict[str, Any]] | None = session.info.pop(_OUTBOX, None)
    if requests:
        publish(requests)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_OUTBOX, None)


def superseded(run_ids: list[int], worker_id: str) -> set[int]:
    """Of `run_ids`, the runs no longer running on `worker_id` (cancelled, reaped, moved on)."""
    if not run_ids:
        return set()
    with session_scope() as session:
        rows = session.execute(
            select(RUNS.c.run_id, RUNS.c.status, RUNS.c.worker).where(RUNS.c.run_id.in_(run_ids))
        ).all()
    still = {
        row.run_id for row in rows if row.status == RunStatus.RUNNING and row.worker == worker_id
    }
    return set(run_ids) - still


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class CancelListener:
    """Sets the cancel event of an attempt this worker runs when its run is cancelled.

    `running` is the worker's run_id -> cancel event map of attempts in flight.
    """

    def __init__(
        self,
        running: dict[int, asyncio.Event],
        worker_id: str,
        *,
        sweep_s: float | None = None,
        run: Threaded = asyncio.to_thread,
    ) -> None:
        self.run = run
        self.running = running
        self.worker_id = worker_id
        self.sweep_s = SWEEP_S if sweep_s is None else sweep_s
        self._client: aioredis.Redis | None = None
        self._last_id = "0-0"
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._client = async_client()
        try:
            # Requests older than this worker concern attempts it does not run.
            self._last_id = await self._newest_id()
        except (RedisError, OSError):
            # Replaying old requests is harmless: each names a run that is already final.
            self._last_id = "0-0"
        self._tasks = [
            asyncio.create_task(self._listen(), name="etl-cancel-listen"),
            asyncio.create_task(self._sweep(), name="etl-cancel-sweep"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def cancel(self, run_id: int, why: str) -> bool:
        """Set the attempt's cancel event; False if this worker does not run `run_id`."""
        flag = self.running.get(run_id)
        if flag is None or flag.is_set():
            return False
        log.info("run %s: stopping its attempt (%s)", run_id, why)
        flag.set()
        return True

    async def _newest_id(self) -> str:
        assert self._client is not None
        latest = await self._client.xrevrange(CANCEL_STREAM, count=1)
        return _decode(latest[0][0]) if latest else "0-0"

    async def _listen(self) -> None:
        assert self._client is not None
        delay = 0.5
        while True:
            try:
                reply = await self._client.xread(
                    {CANCEL_STREAM: self._last_id}, block=BLOCK_MS, count=100
                )
                delay = 0.5
            except Exception as error:  # a dead listener would silently stop every cancel
                log.warning("cancel stream unavailable: %s; retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    self._last_id = _decode(entry_id)
                    self._apply(fields)

    def _apply(self, fields: dict[bytes, bytes]) -> None:
        try:
            request = json.loads(fields[b"data"])
            run_id = int(request["run_id"])
        except (KeyError, ValueError, TypeError):
            log.warning("ignoring a malformed cancel request: %r", fields)
            return
        self.cancel(
            run_id, f"cancelled by {request.get('actor', '?')}: {request.get('reason', '')}"
        )

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            # Keep the events seen now: a run may finish and start a new attempt here meanwhile,
            # and only the attempt that was checked may be stopped.
            snapshot = dict(self.running)
            if not snapshot:
                continue
            try:
                gone = await self.run(superseded, list(snapshot), self.worker_id)
            except Exception as error:
                log.warning("could not check this worker's runs in the database: %s", error)
                continue
            for run_id in sorted(gone):
                if self.running.get(run_id) is snapshot[run_id]:
                    self.cancel(run_id, "its run is no longer running on this worker")
