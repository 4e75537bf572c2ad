"""Collects an attempt's log lines and writes them in batches to the database and a Redis stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import insert

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.db_calls import Threaded
from etl_orchestrator.models import RunLog

log = logging.getLogger(__name__)
LOG_STREAM_MAXLEN = 5000
#: A run's live stream goes a day after its last line (the database keeps every line), so Redis
#: does not keep one stream per run forever.
LOG_STREAM_TTL_S = 24 * 3600
MAX_LINE_CHARS = 16_000
#: A batch is written this long after the previous one started (at once when writing took longer):
#: the flush period is most of the delay from a line being logged to it being on screen, and at
#: 5,000 lines/s a tenth of a second is still only ~500 rows an insert.
FLUSH_EVERY_S = 0.1
RETRY_AFTER_S = 1.0


def log_stream(run_id: int) -> str:
    return f"etl:logs:{run_id}"


#: A Core insert: a third of the ORM bulk insert's time per batch, which matters at thousands of
#: lines a second.
_RUN_LOGS = RunLog.metadata.tables["dw_etl_run_logs"]


def _insert_logs(rows: list[dict[str, Any]]) -> None:
    with session_scope() as session:
        session.execute(insert(_RUN_LOGS), rows)


class LogSink:
    """One per attempt; `flush()` is called every FLUSH_EVERY_S and once at the end."""

    def __init__(
        self,
        run_id: int,
        attempt: int,
        redis: aioredis.Redis | None,
        *,
        run: Threaded = asyncio.to_thread,
    ) -> None:
        self.run = run
        self.run_id = run_id
        self.attempt = attempt
        self.redis = redis
        self.seq = 0
        self.pending: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()

    def add(self, *, level: str, logger: str, message: str, ts: datetime | None = None) -> None:
        self.seq += 1
        self.pending.append(
            {
                "run_id": self.run_id,
                "attempt": self.attempt,
                "seq": self.seq,
                "ts": ts or datetime.now(UTC),
                "level": level[:16],
                "logger": logger[:256],
                "message": message[:MAX_LINE_CHARS],
            }
        )

    async def flush(self) -> None:
        async with self._lock:
            rows = list(self.pending)
            if not rows:
                return
            write = asyncio.ensure_future(self.run(_insert_logs, rows))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                # Cancelling (the periodic flusher at the end of an attempt) does not stop the
                # insert in its thread: wait for it, so the final flush does not write the same
                # lines again (a duplicate key would fail it).
                with contextlib.suppress(Exception):
                    await write
                if not write.cancelled() and write.exception() is None:
                    del self.pending[: len(rows)]
                raise
            # Lines that arrived while writing stay for the next flush; none is lost on error.
            del self.pending[: len(rows)]
            await self._publish(rows)

    async def _publish(self, rows: list[dict[str, Any]]) -> None:
        if self.redis is None:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for row in rows:
                data = {**row, "ts": row["ts"].isoformat()}
                pipe.xadd(
                    log_stream(self.run_id),
                    {"data": json.dumps(data)},
                    maxlen=LOG_STREAM_MAXLEN,
                    approximate=True,
                )
            pipe.expire(log_stream(self.run_id), LOG_STREAM_TTL_S)
            await pipe.execute()
        except RedisError as error:
            log.warning("live log stream for run %s unavailable: %s", self.run_id, error)

    async def run_periodic(self, every_s: float = FLUSH_EVERY_S) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started, pause = loop.time(), every_s
            try:
                await self.flush()
            except Exception as error:
                log.warning("could not write logs of run %s yet: %s", self.run_id, error)
                # The lines stay pending: retrying ten times a second would only flood the log.
                pause = max(every_s, RETRY_AFTER_S)
            await asyncio.sleep(max(pause - (loop.time() - started), 0.0))
