"""What the browser tests share: the console server, sign-in, run factories, the axe audit."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.logsink import LogSink
from etl_orchestrator.models import Job, Run
from etl_orchestrator.redis_conn import async_client
from etl_orchestrator.services import log_queries, runs
from etl_orchestrator.states import RunStatus, transition
from tests.web.conftest import Person

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BUILD_TIMEOUT_S = 300.0
#: Live updates are throttled to one a second per view; allow for a busy 2-core machine.
LIVE_TIMEOUT_MS = 5000
SERIOUS = ("serious", "critical")


@dataclass(frozen=True)
class Console:
    base: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the server and every process it started (they share its process group)."""
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def sign_in(page: Page, console: Console, person: Person, path: str = "/") -> None:
    """Open `path`, get sent to sign in, sign in, and land back on `path`."""
    page.goto(console.base + path)
    expect(page).to_have_url(re.compile(r"/signin/?(\?|$)"))
    page.fill("#username", person.username)
    page.fill("#password", person.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(console.base + path)
    expect(page.locator("#etl-user")).to_contain_text(person.username)


def make_run(job_id: str = "load_sales") -> int:
    with session_scope() as session:
        if session.get(Job, job_id) is None:
            session.add(Job(job_id=job_id, name=job_id))
            session.flush()
        [run_id] = runs.trigger(session, job_id=job_id, reason="test", audit_action=None).run_ids
        return run_id


def move(run_id: int, *statuses: RunStatus, **fields: Any) -> None:
    for status in statuses:
        with session_scope() as session:
            run = session.get(Run, run_id)
            assert run is not None
            extra = fields if status == statuses[-1] else {}
            transition(session, run, status, detail=f"test: {status}", **extra)


def serious_violations(page: Page, axe: Path, within: str = "") -> list[dict[str, Any]]:
    """axe's serious and critical findings on the page, or only inside the `within` selector
    (an open modal dialog: the page behind it is hidden from assistive technology meanwhile)."""
    page.mouse.move(0, 0)  # hover colours are not what a page looks like at rest
    # Nor are colours mid-transition: a dialog still fading in failed the contrast check once.
    page.wait_for_function(
        """() => document.getAnimations().every(a => a.playState !== 'running'
               || a.effect?.getComputedTiming().iterations === Infinity)""",
        timeout=5000,
    )
    page.add_script_tag(path=str(axe))
    result = page.evaluate(
        """async (within) => await axe.run(within ? document.querySelector(within) : document, {
               runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})""",
        within,
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


@dataclass
class Engine:
    """A real scheduler and worker on the console's database and Redis, started by the test."""

    env: dict[str, str]
    log: Path
    processes: dict[str, subprocess.Popen[bytes]]

    def start(self, command: str) -> None:
        with self.log.open("a") as out:
            self.processes[command] = subprocess.Popen(
                [sys.executable, "-m", "etl_orchestrator", command],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, command: str) -> None:
        stop(self.processes.pop(command))


def write_through_sink(run_id: int, messages: list[tuple[str, str]], attempt: int = 1) -> None:
    """Log lines as a worker does: the engine's LogSink writes the database and the live stream.

    In a thread of its own, as Playwright's sync API holds this thread's event loop."""

    async def write() -> None:
        redis = async_client()
        try:
            sink = LogSink(run_id, attempt, redis)
            sink.seq = last_seq(run_id, attempt)
            for level, message in messages:
                sink.add(level=level, logger="etl.job", message=message)
            await sink.flush()
        finally:
            await redis.aclose()

    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(write())
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def last_seq(run_id: int, attempt: int) -> int:
    with session_scope() as session:
        lines = log_queries.tail(session, run_id, 1)
    return lines[-1].seq if lines and lines[-1].attempt == attempt else 0
