"""Log flood: a running job logs N lines/s for S s while its log is open in Chromium.

`.venv/bin/python bench/logs.py [--rate 5000] [--seconds 60]`

The lines go through the engine's own LogSink (what a worker does with each line its job logs:
batches to the database and the run's Redis stream every 0.1 s). Meanwhile the built console
(`etl-orchestrator web`, production build) shows the run page with the log view, following live
with the console's polling switched off. Figures: every line stored once and in order (seq
1..N); probe lines' delay from being logged to being in the page's DOM; the page's
responsiveness (main-thread delay of a click, and the round trip of a toggle through the server)
during the flood; the tab's JS heap over time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import machine, private_services  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PROBE_EVERY_S = 2.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _prepare() -> int:
    """A user, a job and a running run; polling off. Returns the run id."""
    from etl_orchestrator.db import session_scope
    from etl_orchestrator.models import Job, Run, Setting
    from etl_orchestrator.services import runs, settings
    from etl_orchestrator.services.users import add_user
    from etl_orchestrator.states import RunStatus, transition

    with session_scope() as session:
        add_user(session, username="bench", password="bench-password", role="viewer")
        session.merge(Setting(key=settings.CONSOLE_POLL_S, value=0))
        session.add(Job(job_id="flood", name="flood"))
        session.flush()
        [run_id] = runs.trigger(session, job_id="flood", reason="bench", audit_action=None).run_ids
    for status in (RunStatus.DISPATCHED, RunStatus.RUNNING):
        with session_scope() as session:
            run = session.get(Run, run_id)
            assert run is not None
            transition(session, run, status, detail="bench")
    return run_id


class Flood:
    """Logs `rate` lines/s for `seconds` through LogSink in a thread with its own event loop;
    every PROBE_EVERY_S one line is a probe whose logging time is kept."""

    def __init__(self, run_id: int, rate: int, seconds: float) -> None:
        self.run_id, self.rate, self.seconds = run_id, rate, seconds
        self.sent = 0
        #: seq of each probe line -> when it was logged (epoch s)
        self.probes: dict[int, float] = {}
        #: seq of each probe line -> when the sink had stored and published it (epoch s)
        self.published: dict[int, float] = {}
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _main(self) -> None:
        try:
            asyncio.run(self._flood())
        except BaseException as error:
            self.error = error
        finally:
            self.done.set()

    async def _flood(self) -> None:
        from etl_orchestrator.engine.logsink import LogSink
        from etl_orchestrator.redis_conn import async_client

        flood = self

        class TimedSink(LogSink):
            """Notes when each probe reached the live stream (after its database insert)."""

            async def _publish(self, rows: list[dict[str, Any]]) -> None:
                await super()._publish(rows)
                now = time.time()
                for row in rows:
                    if row["seq"] in flood.probes:
                        flood.published[row["seq"]] = now

        redis = async_client()
        sink = TimedSink(self.run_id, 1, redis)
        flusher = asyncio.create_task(sink.run_periodic())
        tick = 0.01
        start = time.monotonic()
        next_probe = start + 1.0
        try:
            while (now := time.monotonic()) - start < self.seconds:
                due = int((now - start) * self.rate)
                while self.sent < due:
                    self.sent += 1
                    level = "ERROR" if self.sent % 1000 == 0 else "INFO"
                    sink.add(
                        level=level, logger="bench.flood", message=f"row {self.sent} loaded ok"
                    )
                if now >= next_probe:
                    self.sent += 1
                    self.probes[self.sent] = time.time()
                    sink.add(level="INFO", logger="bench.flood", message=f"probe {self.sent}")
                    next_probe += PROBE_EVERY_S
                await asyncio.sleep(tick)
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await sink.flush()
            await redis.aclose()


#: Records when the newest line on screen changes: [epoch ms, seq]. The list is virtualised, so
#: a given line may scroll past between two frames; a probe counts as shown once a line at least
#: as new is on screen.
WATCH_JS = """() => {
  window.__newest = [];
  let newest = 0;
  const look = () => {
    const rows = document.querySelectorAll('#log-view .etl-log-line');
    for (const row of rows) {
      const seq = parseInt((row.dataset.key || '0:0').split(':')[1], 10);
      if (seq > newest) {
        newest = seq;
        window.__newest.push([performance.timeOrigin + performance.now(), seq]);
      }
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}"""

CLICK_JS = """async () => {
  const t0 = performance.now();
  document.querySelector('#log-copy').dispatchEvent(new MouseEvent('mousedown', {bubbles: true}));
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - t0;
}"""

HEAP_JS = "() => performance.memory ? performance.memory.usedJSHeapSize : 0"


def _browse(base: str, run_id: int, flood: Flood) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    figures: dict[str, Any] = {"click_ms": [], "toggle_ms": [], "heap": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--enable-precise-memory-info"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        figures["errors"] = errors
        page.goto(f"{base}/signin")
        page.fill("#username", "bench")
        page.fill("#password", "bench-password")
        page.click("button[type=submit]")
        page.wait_for_selector("#etl-user")
        # /runs/<id> is the job page with the run's drawer open; its "Logs" opens the Logs tab
        # following the run.
        page.goto(f"{base}/runs/{run_id}")
        page.get_by_role("button", name="Logs", exact=True).click()
        page.wait_for_selector("#log-note")
        page.evaluate(WATCH_JS)
        figures["heap"].append(page.evaluate(HEAP_JS))
        flood.start()
        toggle = page.locator("#log-autoscroll")
        while not flood.done.is_set():
            figures["click_ms"].append(page.evaluate(CLICK_JS))
            # Off and straight back on: auto-scroll is off only for the round trips, so the
            # probes measure a view that follows the log.
            for checked in ("false", "true"):
                t0 = time.monotonic()
                toggle.click()
                try:
                    page.wait_for_function(
                        f"() => document.querySelector('#log-autoscroll').checked === {checked}"
                    )
                except Exception:
                    raise SystemExit(
                        f"the page stopped answering: errors {errors[:3]}, url {page.url}, "
                        f"text {page.inner_text('main')[:500]!r}"
                    ) from None
                figures["toggle_ms"].append((time.monotonic() - t0) * 1000)
            figures["heap"].append(page.evaluate(HEAP_JS))
            page.wait_for_timeout(1000)
        page.wait_for_timeout(3000)  # the last probes
        newest: list[list[float]] = page.evaluate("() => window.__newest")
        figures["heap"].append(page.evaluate(HEAP_JS))
        figures["dom_lines"] = page.locator("#log-view .etl-log-line").count()
        figures["last_keys"] = page.locator("#log-view .etl-log-line").evaluate_all(
            "els => els.slice(-3).map(e => e.dataset.key)"
        )
        figures["note"] = page.inner_text("#log-note")
        figures["newest"] = newest
        browser.close()
    return figures


def _stored(run_id: int) -> tuple[int, int, int, int]:
    from sqlalchemy import text

    from etl_orchestrator.db import session_scope

    with session_scope() as session:
        row = session.execute(
            text(
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM dw_etl_run_logs "
                "WHERE run_id = :r AND attempt = 1"
            ),
            {"r": run_id},
        ).one()
    return int(row[0]), int(row[1]), int(row[2] or 0), int(row[3] or 0)


def _ordered(run_id: int) -> bool:
    """Every stored line's seq is the number the flood gave it when it was logged."""
    from sqlalchemy import text

    from etl_orchestrator.db import session_scope

    with session_scope() as session:
        rows = session.execute(
            text("SELECT seq, message FROM dw_etl_run_logs WHERE run_id = :r ORDER BY seq"),
            {"r": run_id},
        ).all()
    return all(int(message.split()[1]) == seq for seq, message in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000, help="lines per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with private_services("logs") as (db_url, redis_url), tempfile.TemporaryDirectory() as tmp:
        os.environ.update(
            DATABASE_URL=db_url,
            REDIS_URL=redis_url,
            DATA_DIR=str(Path(tmp) / "data"),
            PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        )
        from etl_orchestrator.migrations import upgrade

        upgrade(db_url)
        run_id = _prepare()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "BASE_URL": base, "GRANIAN_WORKERS": "2"}
        log = Path(tmp) / "web.log"
        with log.open("w") as out:
            web = subprocess.Popen(
                [sys.executable, "-m", "etl_orchestrator", "web", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 600
            while not _answers(f"{base}/healthz"):
                if web.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the console did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            flood = Flood(run_id, args.rate, args.seconds)
            started = time.monotonic()
            try:
                figures = _browse(base, run_id, flood)
            except BaseException:
                print("console log tail:\n" + log.read_text()[-6000:])
                raise
            flood.thread.join()
            took = time.monotonic() - started
            if flood.error is not None:
                raise flood.error
            count, distinct, low, high = _stored(run_id)
            web_log = log.read_text()
            ordered = _ordered(run_id)
        finally:
            os.killpg(web.pid, 15)
            web.wait(30)
    delays, view_delays = [], []
    for seq, logged in flood.probes.items():
        shown = next((t for t, newest in figures["newest"] if newest >= seq), None)
        if shown is not None:
            delays.append(shown - logged * 1000)
            if seq in flood.published:
                view_delays.append(shown - flood.published[seq] * 1000)
    sink_delays = [(flood.published[s] - flood.probes[s]) * 1000 for s in flood.published]
    if len(delays) < len(flood.probes):
        print(f"on screen at the end: {figures['last_keys']}; note: {figures['note']!r}")
        print(f"page errors: {figures['errors'][:3]}")
        print("console log tail:\n" + web_log[-3000:])
    heap_mib = [h / 2**20 for h in figures["heap"] if h]
    print(f"machine: {machine()}")
    print(
        f"flood: {flood.sent} lines at {args.rate}/s for {args.seconds:.0f} s ({took:.0f} s wall)"
    )
    complete = count == distinct == flood.sent and low == 1 and high == flood.sent
    print(
        f"stored: {count} lines, seq {low}..{high}, {distinct} distinct: "
        f"{'every line once, in order' if complete and ordered else 'INCOMPLETE OR OUT OF ORDER'}"
    )
    print(
        f"new line in the page: {len(delays)}/{len(flood.probes)} probes seen, delay p50 "
        f"{pct(delays, 0.5):.0f} ms, p95 {pct(delays, 0.95):.0f} ms, max "
        f"{max(delays, default=float('nan')):.0f} ms (target <= 1000 ms)"
    )
    print(
        f"  of which logged -> stored and on the stream (the sink): p50 {pct(sink_delays, 0.5):.0f}"
        f" ms, max {max(sink_delays, default=float('nan')):.0f} ms; stream -> on screen (the "
        f"view): p50 {pct(view_delays, 0.5):.0f} ms, max "
        f"{max(view_delays, default=float('nan')):.0f} ms"
    )
    print(
        f"responsiveness: click to next frame p50 {pct(figures['click_ms'], 0.5):.0f} ms, "
        f"max {max(figures['click_ms'], default=float('nan')):.0f} ms; toggle round trip p50 "
        f"{pct(figures['toggle_ms'], 0.5):.0f} ms, max "
        f"{max(figures['toggle_ms'], default=float('nan')):.0f} ms"
    )
    if heap_mib:
        print(
            f"JS heap: start {heap_mib[0]:.1f} MiB, max {max(heap_mib):.1f} MiB, end "
            f"{heap_mib[-1]:.1f} MiB, median {statistics.median(heap_mib):.1f} MiB; "
            f"{figures['dom_lines']} line elements in the DOM"
        )


if __name__ == "__main__":
    main()
