"""Following a run's log live: its Redis stream for speed, the database for completeness.

The engine writes each batch of lines to the database first and then appends it to the run's
capped stream (engine/logsink.py), so every line the stream carries is already stored. A follower
keeps the (attempt, seq) of the last line it gave out and reads the stream from an id taken
before its first database read: a stream line at or before the cursor is a duplicate and is
skipped, and one that does not follow on directly (trimmed stream, a reconnect, a new attempt)
makes it read the missing lines from the database first. No line is lost or given twice.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.logsink import log_stream
from etl_orchestrator.services import log_queries
from etl_orchestrator.services.log_queries import Cursor, Line
from etl_orchestrator.timeutil import as_utc

#: Lines read from the database at a time when filling a gap.
GAP_PAGE = 2000
STREAM_COUNT = 5000


def line_of_stream(fields: dict[bytes, bytes]) -> Line | None:
    try:
        data = json.loads(fields[b"data"])
        return Line(
            attempt=int(data["attempt"]),
            seq=int(data["seq"]),
            ts=as_utc(datetime.fromisoformat(data["ts"])),
            level=str(data.get("level", "")),
            logger=str(data.get("logger", "")),
            message=str(data.get("message", "")),
        )
    except (KeyError, ValueError, TypeError):
        return None  # not a line this version writes: the database copy still has it


def _stored_after(run_id: int, after: Cursor, upto: Cursor | None) -> list[Line]:
    """Stored lines after `after` (up to and including `upto` when given), in order."""
    found: list[Line] = []
    while True:
        with session_scope() as session:
            page = log_queries.lines_after(session, run_id, after, GAP_PAGE)
        for line in page:
            if upto is not None and line.cursor > upto:
                return found
            found.append(line)
        if len(page) < GAP_PAGE:
            return found
        after = page[-1].cursor


def _status(run_id: int) -> str:
    with session_scope() as session:
        return log_queries.run_status(session, run_id)


class LogFollower:
    """Gives a run's lines after `cursor` once each, in order, as they are written.

    Call `start()` before reading what is already stored (so nothing written in between is
    missed), then `more()` in a loop. `stream_ok` is False while Redis cannot be read; `more()`
    then reads the database instead.
    """

    def __init__(
        self,
        run_id: int,
        redis: aioredis.Redis | None,
        cursor: Cursor,
        *,
        keep_last: int | None = None,
    ) -> None:
        self.run_id = run_id
        #: Give at most this many of the lines that arrived at once, the newest (None: all).
        self.keep_last = keep_last
        self.skipped = False
        self.redis = redis
        self.cursor = cursor
        self.stream_ok = redis is not None
        self._stream_id: bytes | str = "0-0"
        self.final = False

    async def start(self) -> None:
        """Remember where the live stream is now."""
        if self.redis is None:
            return
        try:
            last = await self.redis.xrevrange(log_stream(self.run_id), count=1)
            self._stream_id = last[0][0] if last else "0-0"
            self.stream_ok = True
        except (RedisError, OSError):
            self.stream_ok = False

    async def catch_up(self) -> list[Line]:
        """Every stored line after the cursor (the polling path, and the end of a run)."""
        lines = await asyncio.to_thread(_stored_after, self.run_id, self.cursor, None)
        return self._take(lines)

    def _take(self, lines: list[Line]) -> list[Line]:
        fresh = [line for line in lines if line.cursor > self.cursor]
        if fresh:
            self.cursor = fresh[-1].cursor
        return fresh

    async def _read_stream(self, block_ms: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Every entry after the last one read (waiting up to `block_ms` for the first)."""
        assert self.redis is not None
        entries: list[tuple[bytes, dict[bytes, bytes]]] = []
        since = self._stream_id
        while True:
            reply: Any = await self.redis.xread(
                {log_stream(self.run_id): since},
                count=STREAM_COUNT,
                block=None if entries else block_ms,
            )
            got = [item for _, items in reply or [] for item in items]
            entries += got
            if len(got) < STREAM_COUNT:
                return entries
            since = got[-1][0]

    async def more(self, block_ms: int = 2000) -> list[Line]:
        """The next lines, waiting up to `block_ms` for some; [] when none came.

        Sets `final` once the run has ended and every line of it was given out.
        """
        if self.final:
            return []
        if self.redis is not None:
            try:
                entries = await self._read_stream(block_ms)
                self.stream_ok = True
            except (RedisError, OSError):
                self.stream_ok = False
                entries = []
        else:
            entries = []
        if not self.stream_ok:
            await asyncio.sleep(block_ms / 1000)
            return await self._idle()
        if not entries:
            return await self._idle()
        self._stream_id = entries[-1][0]
        lines = [line for _, fields in entries if (line := line_of_stream(fields)) is not None]
        if self.keep_last is not None and len(lines) > self.keep_last:
            # A reader that shows only the newest lines skips what it could not show anyway
            # rather than fall behind (a log flood); `skipped` tells it its lines are no longer
            # contiguous.
            lines = lines[-self.keep_last :]
            if lines[0].cursor > self.cursor:
                self.cursor = (lines[0].attempt, lines[0].seq - 1)
                self.skipped = True
        out: list[Line] = []
        for line in lines:
            if line.cursor <= self.cursor:
                continue
            if line.cursor != (self.cursor[0], self.cursor[1] + 1):
                # A gap (or the first line of a new attempt): the database has every line up to
                # and including this one.
                gap = await asyncio.to_thread(_stored_after, self.run_id, self.cursor, line.cursor)
                out += self._take(gap)
                if line.cursor <= self.cursor:
                    continue
            out += self._take([line])
        return out

    async def _idle(self) -> list[Line]:
        """Nothing new on the stream: check whether the run has ended, and read what is stored
        (a run that ended, or a stream that is down, may still have lines the stream lacks)."""
        status = await asyncio.to_thread(_status, self.run_id)
        lines = await self.catch_up() if not self.stream_ok or log_queries.is_final(status) else []
        if log_queries.is_final(status):
            # The worker writes an attempt's last lines before it records the outcome.
            lines += await self.catch_up()
            self.final = True
        return lines
