"""The log's HTTP routes: sign-in or token required, the download in order, SSE framing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.logsink import LogSink
from etl_orchestrator.models import Job, Run, RunLog
from etl_orchestrator.redis_conn import async_client
from etl_orchestrator.states import RunStatus, transition
from etl_orchestrator.web import log_routes
from tests.web.conftest import MakeUser, routes_client, sign_in


@pytest.fixture
async def log_client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with routes_client(base_url, *log_routes.routes) as client:
        yield client


def make_run_with_lines(count: int, attempts: int = 1) -> int:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope() as session:
        session.add(Job(job_id="a", name="a"))
        session.flush()
        run = Run(job_id="a", batch_id="b1")
        session.add(run)
        session.flush()
        assert run.run_id is not None
        rows = [
            {
                "run_id": run.run_id,
                "attempt": attempt,
                "seq": seq,
                "ts": start + timedelta(milliseconds=attempt * 100_000 + seq),
                "level": "INFO",
                "logger": "job",
                "message": f"attempt {attempt} line {seq}",
            }
            for attempt in range(1, attempts + 1)
            for seq in range(1, count + 1)
        ]
        if rows:
            session.execute(insert(RunLog), rows)
        return run.run_id


def finish(run_id: int) -> None:
    for status in (RunStatus.DISPATCHED, RunStatus.RUNNING, RunStatus.SUCCEEDED):
        with session_scope() as session:
            run = session.get(Run, run_id)
            assert run is not None
            transition(session, run, status, detail="test")


async def test_log_routes_refuse_requests_without_a_session_or_token(
    log_client: httpx.AsyncClient,
):
    run_id = make_run_with_lines(3)
    for path in (f"/api/runs/{run_id}/logs.txt", f"/api/runs/{run_id}/logs/stream"):
        response = await log_client.get(path)
        assert response.status_code == 401
        assert "not signed in" in response.json()["error"]


async def test_an_unknown_run_is_a_clear_404(log_client: httpx.AsyncClient, make_user: MakeUser):
    await sign_in(log_client, make_user("viewer"))
    for path in ("/api/runs/424242/logs.txt", "/api/runs/424242/logs/stream"):
        response = await log_client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == (
            "no run 424242: it never existed, or retention removed it"
        )


async def test_the_download_is_every_line_in_order_as_an_attachment(
    log_client: httpx.AsyncClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(log_routes, "DOWNLOAD_CHUNK", 7)  # several chunks, one partial
    run_id = make_run_with_lines(20, attempts=2)
    await sign_in(log_client, make_user("viewer"))
    response = await log_client.get(f"/api/runs/{run_id}/logs.txt")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="run-{run_id}.log"'
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    expected = [f"attempt {a} line {s}" for a in (1, 2) for s in range(1, 21)]
    assert [line.split(": ", 1)[1] for line in lines] == expected
    assert lines[0].startswith("2026-01-01T00:01:40.001Z INFO     [1:1] job: ")


async def test_the_stream_sends_stored_lines_after_the_cursor_then_ends_with_the_run(
    log_client: httpx.AsyncClient, make_user: MakeUser
):
    run_id = make_run_with_lines(5)
    finish(run_id)
    await sign_in(log_client, make_user("viewer"))
    response = await log_client.get(f"/api/runs/{run_id}/logs/stream?after=3")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.text.split("\n\n")
    assert events[0].splitlines()[:2] == ["id: 1:4", "event: line"]
    assert json.loads(events[0].splitlines()[2].removeprefix("data: "))["message"] == (
        "attempt 1 line 4"
    )
    assert events[1].startswith("id: 1:5\n")
    assert events[2] == 'event: end\ndata: {"status": "succeeded"}'


async def test_the_stream_sends_live_lines_and_keepalives_until_the_run_ends(
    log_client: httpx.AsyncClient, make_user: MakeUser
):
    run_id = make_run_with_lines(1)
    await sign_in(log_client, make_user("viewer"))
    received: list[str] = []

    async def read() -> None:
        url = f"/api/runs/{run_id}/logs/stream?after=1:1&keepalive=1"
        async with log_client.stream("GET", url) as response:
            async for chunk in response.aiter_text():
                received.append(chunk)

    # httpx's ASGI transport hands over the body when the response ends: a keepalive before the
    # live line shows the stream was open, and waiting, when the line was written.
    reader = asyncio.create_task(read())
    await asyncio.sleep(2.5)
    redis = async_client()
    sink = LogSink(run_id, 1, redis)
    sink.seq = 1
    sink.add(level="INFO", logger="job", message="<b>live</b> line")
    await sink.flush()
    await redis.aclose()
    await asyncio.sleep(1.0)
    finish(run_id)
    await asyncio.wait_for(reader, 30)
    text = "".join(received)
    assert ": keepalive\n\n" in text
    assert text.index(": keepalive\n\n") < text.index("id: 1:2\nevent: line\n")
    assert "id: 1:1\n" not in text
    assert text.endswith('event: end\ndata: {"status": "succeeded"}\n\n')


async def test_an_api_token_opens_the_stream_and_a_bad_cursor_is_refused(
    log_client: httpx.AsyncClient, make_user: MakeUser
):
    from etl_orchestrator.web import api_tokens

    run_id = make_run_with_lines(2)
    person = make_user("viewer")
    with session_scope() as session:
        secret = api_tokens.issue(
            session, username=person.username, label="t", days=None, actor="test"
        ).secret
    response = await log_client.get(
        f"/api/runs/{run_id}/logs/stream?after=x",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 400
    assert "bad log position 'x'" in response.json()["error"]
