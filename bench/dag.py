"""DAG benchmark: how soon a generated 500-job pipeline's graph is interactive in Chromium.

Builds and starts the console (`etl-orchestrator web`) on a private database holding a
generated pipeline (`--jobs` jobs in about `--levels` levels, each depending on one to three
jobs of earlier levels, mixed success/completion dependencies, varied last statuses), signs in
once, then loads /dag `--loads` times and prints, per load and as the median: the time from
navigation until every node is rendered, and until a click on a node has opened its job page.
Target: interactive within 2 s.

    .venv/bin/python bench/dag.py [--jobs 500] [--levels 20] [--loads 5]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import machine, private_services  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
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


def measure(base: str, jobs: int, loads: int, target: str) -> list[tuple[float, float]]:
    """(seconds to every node rendered, seconds to a node click opening its job) per load."""
    from playwright.sync_api import sync_playwright

    times: list[tuple[float, float]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/dag")
        page.fill("#username", USER)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/dag/")
        page.wait_for_selector("[data-job]", timeout=60_000)  # warm: the first build's chunks
        for _ in range(loads):
            page.goto(f"{base}/")
            page.wait_for_selector("#etl-user")
            start = time.perf_counter()
            page.goto(f"{base}/dag")
            page.wait_for_function(
                f"document.querySelectorAll('[data-job]').length >= {jobs}", timeout=60_000
            )
            rendered = time.perf_counter() - start
            page.locator(f'[data-job="{target}"]').click()
            page.wait_for_url(f"{base}/jobs/{target}", timeout=60_000)
            times.append((rendered, time.perf_counter() - start))
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
    target = list(pipeline)[len(pipeline) // 2]
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
            times = measure(f"http://127.0.0.1:{port}", args.jobs, args.loads, target)
        finally:
            stop(console)
    for n, (rendered, clicked) in enumerate(times, 1):
        print(
            f"load {n}: all {args.jobs} nodes rendered {rendered:.2f} s, click opened the job "
            f"{clicked:.2f} s"
        )
    median = statistics.median(clicked for _, clicked in times)
    print(
        f"median: nodes rendered {statistics.median(r for r, _ in times):.2f} s, "
        f"interactive (click opened the job) {median:.2f} s (target ≤ 2 s: "
        f"{'met' if median <= 2.0 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
