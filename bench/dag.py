"""DAG benchmark: how soon a generated 500-job pipeline's graph is interactive in Chromium.

Builds and starts the console (`etl-orchestrator web`) on a private database holding a
generated pipeline (`--jobs` jobs in about `--levels` levels, each depending on one to three
jobs of earlier levels, mixed success/completion dependencies, varied last statuses), signs in
once, then loads /dag `--loads` times and prints, per load and as the median: the time from
navigation until the first view's nodes and edges are rendered (a large graph opens on its
first levels and renders what is in view), until a click on a node has opened its job page
(interactive), the CPU time Chromium's processes used over that span (unlike wall time, hardly
changed by other work on a shared machine), and the time "Fit view" takes to render every node
and edge. Target: interactive within 2 s.

    .venv/bin/python bench/dag.py [--jobs 500] [--levels 20] [--loads 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import machine, private_services  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FIRST_VIEW = (
    "document.querySelectorAll('[data-job]').length > 0"
    " && document.querySelectorAll('.react-flow__edge').length > 0"
)
STATUSES = ("succeeded", "succeeded", "succeeded", "failed", "upstream_failed", "cancelled", None)
USER, PASSWORD = "bench", "bench-password-123"
BUILD_TIMEOUT_S = 600.0


def generate(jobs: int, levels: int, seed: int = 7) -> dict[str, list[tuple[str, str]]]:
    """job id -> [(upstream, dep_type)]: a layered random DAG, deterministic for a seed."""
    rng = random.Random(seed)
    per_level = max(1, jobs // levels)
    layers: list[list[str]] = []
    upstream: dict[str, list[tuple[str, str]]] = {}
    for n in range(jobs):
        level = min(n // per_level, levels - 1)
        if level == len(layers):
            layers.append([])
        job_id = f"job_{n:04d}"
        layers[level].append(job_id)
        ups: set[str] = set()
        if level > 0:
            ups.add(rng.choice(layers[level - 1]))  # the level is exactly one more
            for _ in range(rng.randint(0, 2)):
                ups.add(rng.choice(layers[rng.randrange(level)]))
        upstream[job_id] = [
            (up, "completion" if rng.random() < 0.2 else "success") for up in sorted(ups)
        ]
    return upstream


def seed(db_url: str, pipeline: dict[str, list[tuple[str, str]]]) -> None:
    from etl_orchestrator.db import session_scope
    from etl_orchestrator.migrations import upgrade
    from etl_orchestrator.models import Job, JobDependency
    from etl_orchestrator.services.users import add_user

    upgrade(db_url)
    os.environ["DATABASE_URL"] = db_url
    rng = random.Random(11)
    with session_scope() as session:
        for n, job_id in enumerate(pipeline):
            status = rng.choice(STATUSES)
            session.add(
                Job(
                    job_id=job_id,
                    name=job_id,
                    last_run_status=status,
                    last_run_id=n + 1 if status else None,
                )
            )
        session.flush()
        for job_id, ups in pipeline.items():
            for up, dep_type in ups:
                session.add(JobDependency(job_id=job_id, upstream_job_id=up, dep_type=dep_type))
        add_user(session, username=USER, password=PASSWORD, role="viewer", actor="bench")


@dataclass(frozen=True)
class Load:
    rendered_s: float  # navigation -> the first view's nodes and edges are in the page
    interactive_s: float  # navigation -> a click on a node has opened its job page
    busy_s: float  # CPU seconds Chromium used over the same span
    shown: int  # nodes rendered in the first view (a large graph renders what is in view)
    fit_all_s: float  # "Fit view" pressed -> every node and edge rendered


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_console(db_url: str, redis_url: str, folder: Path, port: int) -> subprocess.Popen[bytes]:
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(folder / "data"),
        "BASE_URL": base,
        "GRANIAN_WORKERS": "2",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
    }
    log = (folder / "web.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "etl_orchestrator", "web", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    while not answers(f"{base}/healthz"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SystemExit(f"the console did not start; see {folder / 'web.log'}")
        time.sleep(0.5)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(15)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def measure(base: str, jobs: int, edges: int, loads: int) -> list[Load]:
    from playwright.sync_api import sync_playwright

    times: list[Load] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def busy_s() -> float:
            """CPU seconds used so far by Chromium (browser, renderers, GPU process)."""
            total = 0.0
            for process in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if "chrom" in process.name():
                        cpu = process.cpu_times()
                        total += cpu.user + cpu.system
            return total

        page.goto(f"{base}/dag/")
        page.fill("#username", USER)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#etl-user")
        page.goto(f"{base}/dag/")  # wherever sign-in landed
        page.wait_for_selector("[data-job]", timeout=60_000)  # warm: the first build's chunks
        for _ in range(loads):
            page.goto(f"{base}/")
            page.wait_for_selector("#etl-user")
            busy, start = busy_s(), time.perf_counter()
            page.goto(f"{base}/dag/")
            page.wait_for_function(FIRST_VIEW, timeout=60_000, polling=20)
            rendered = time.perf_counter() - start
            node = page.locator("[data-job]").first
            target = node.get_attribute("data-job")
            shown = page.locator("[data-job]").count()
            node.click()
            page.wait_for_url(f"{base}/jobs/{target}", timeout=60_000)
            interactive, cpu = time.perf_counter() - start, busy_s() - busy
            page.go_back()
            page.wait_for_function(FIRST_VIEW, timeout=60_000, polling=20)
            fit = time.perf_counter()
            page.locator(".react-flow__controls-fitview").click()
            page.wait_for_function(
                f"document.querySelectorAll('[data-job]').length >= {jobs}"
                f" && document.querySelectorAll('.react-flow__edge').length >= {edges}",
                timeout=60_000,
                polling=20,
            )
            times.append(Load(rendered, interactive, cpu, shown, time.perf_counter() - fit))
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--levels", type=int, default=20)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    from tests.web.browser.support import free_port

    pipeline = generate(args.jobs, args.levels)
    edges = sum(len(ups) for ups in pipeline.values())
    print(f"machine: {machine()}")
    print(f"pipeline: {len(pipeline)} jobs, {edges} dependencies, {args.levels} levels")
    with (
        private_services("dag") as (db_url, redis_url),
        tempfile.TemporaryDirectory() as folder,
    ):
        seed(db_url, pipeline)
        port = free_port()
        started = time.perf_counter()
        console = start_console(db_url, redis_url, Path(folder), port)
        print(f"console built and started in {time.perf_counter() - started:.0f} s")
        try:
            times = measure(f"http://127.0.0.1:{port}", args.jobs, edges, args.loads)
        finally:
            stop(console)
    for n, load in enumerate(times, 1):
        print(
            f"load {n}: first view ({load.shown} nodes) rendered {load.rendered_s:.2f} s, "
            f"click opened the job {load.interactive_s:.2f} s, Chromium CPU {load.busy_s:.2f} s; "
            f"Fit view to all {args.jobs} nodes and {edges} edges {load.fit_all_s:.2f} s"
        )
    interactive = statistics.median(load.interactive_s for load in times)
    print(
        f"median: first view rendered {statistics.median(t.rendered_s for t in times):.2f} s, "
        f"interactive {interactive:.2f} s (target ≤ 2 s: "
        f"{'met' if interactive <= 2.0 else 'NOT met'}), Chromium CPU "
        f"{statistics.median(t.busy_s for t in times):.2f} s, Fit view to every node "
        f"{statistics.median(t.fit_all_s for t in times):.2f} s; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
