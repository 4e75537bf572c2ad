"""A run's log over plain HTTP: GET /api/runs/<id>/logs.txt (download) and .../logs/stream (SSE).

Both need a session cookie or an API token. The download streams the stored log from the database
in keyset chunks, so a million-line log is never held in memory; the SSE stream sends the stored
lines after `?after=` (or the Last-Event-ID of a reconnect) and then the live ones until the run
is final.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from etl_orchestrator.db import session_scope
from etl_orchestrator.redis_conn import async_client
from etl_orchestrator.services import log_queries
from etl_orchestrator.services.log_follow import LogFollower
from etl_orchestrator.services.log_queries import START, Cursor, Line, LogQueryError
from etl_orchestrator.services.run_queries import UnknownRunError
from etl_orchestrator.web.api import api_user, unauthorized

DOWNLOAD_CHUNK = 5000
#: Seconds between SSE keepalive comments (proxies drop a silent connection).
KEEPALIVE_S = 15.0


#: Run ids are 64-bit: a larger number in a URL names no run (and the database would refuse it).
MAX_RUN_ID = 2**63 - 1


def _not_found(run_id: int) -> Response:
    return JSONResponse(
        {"error": f"no run {run_id}: it never existed, or retention removed it"}, status_code=404
    )


def _bad_request(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)


def _status(run_id: int) -> str:
    with session_scope() as session:
        return log_queries.run_status(session, run_id)


def _chunk(run_id: int, after: Cursor) -> list[Line]:
    with session_scope() as session:
        return log_queries.lines_after(session, run_id, after, DOWNLOAD_CHUNK)


async def _text(run_id: int) -> AsyncIterator[bytes]:
    after = START
    while True:
        lines = await run_in_threadpool(_chunk, run_id, after)
        if lines:
            yield "".join(line.text() + "\n" for line in lines).encode()
            after = lines[-1].cursor
        if len(lines) < DOWNLOAD_CHUNK:
            return


async def _checked_run(request: Request) -> int | Response:
    """The run id of the path, or the response refusing the request."""
    if await api_user(request) is None:
        return unauthorized()
    run_id = int(request.path_params["run_id"])
    if run_id > MAX_RUN_ID:
        return _not_found(run_id)  # beyond the id column's range: no such run can exist
    try:
        await run_in_threadpool(_status, run_id)
    except UnknownRunError:
        return _not_found(run_id)
    return run_id


async def logs_txt(request: Request) -> Response:
    checked = await _checked_run(request)
    if isinstance(checked, Response):
        return checked
    return StreamingResponse(
        _text(checked),
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="run-{checked}.log"',
            "Cache-Control": "no-store",
        },
    )


def sse_line(line: Line) -> str:
    data = {
        "attempt": line.attempt,
        "seq": line.seq,
        "ts": line.ts.isoformat().replace("+00:00", "Z"),
        "level": line.level,
        "logger": line.logger,
        "message": line.message,
    }
    return f"id: {line.attempt}:{line.seq}\nevent: line\ndata: {json.dumps(data)}\n\n"


async def _events(
    request: Request, run_id: int, after: Cursor, keepalive_s: float
) -> AsyncIterator[str]:
    redis = async_client()
    follower = LogFollower(run_id, redis, after)
    try:
        await follower.start()
        for line in await follower.catch_up():
            yield sse_line(line)
        last_sent = time.monotonic()
        while not follower.final:
            if await request.is_disconnected():
                return
            lines = await follower.more(block_ms=int(min(keepalive_s, 2.0) * 1000))
            for line in lines:
                yield sse_line(line)
            if lines:
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= keepalive_s:
                yield ": keepalive\n\n"
                last_sent = time.monotonic()
        status = await run_in_threadpool(_status, run_id)
        yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
    except (asyncio.CancelledError, UnknownRunError):
        return
    finally:
        await redis.aclose()


async def logs_stream(request: Request) -> Response:
    checked = await _checked_run(request)
    if isinstance(checked, Response):
        return checked
    given = request.query_params.get("after") or request.headers.get("last-event-id")
    try:
        after = log_queries.parse_cursor(given) if given else START
        keepalive_s = float(request.query_params.get("keepalive", KEEPALIVE_S))
    except (LogQueryError, ValueError) as error:
        return _bad_request(str(error))
    keepalive_s = min(max(keepalive_s, 1.0), 60.0)
    return StreamingResponse(
        _events(request, checked, after, keepalive_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


routes = [
    Route("/api/runs/{run_id:int}/logs.txt", logs_txt, methods=["GET"]),
    Route("/api/runs/{run_id:int}/logs/stream", logs_stream, methods=["GET"]),
]
