"""Browser-test fixtures: one built console server per test session, Chromium, an engine.

One `etl-orchestrator web` (production build, two backend workers sharing Redis) serves the
whole session from a database of its own; each test empties it (DELETE, not the TRUNCATE of the
other tests: the server keeps reading while tests set up) and gets a fresh browser context.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlmodel import SQLModel

from etl_orchestrator import config, db, events
from etl_orchestrator.migrations import upgrade
from tests.conftest import PG_ADMIN, RUN_TAG
from tests.web.browser.support import (
    AXE,
    BUILD_TIMEOUT_S,
    CHROMIUM,
    ROOT,
    Console,
    Engine,
    answers,
    free_port,
    stop,
)


@pytest.fixture(scope="session")
def console_db(pg_url: str) -> Iterator[str]:
    """The console server's own database, migrated, dropped at the end."""
    name = f"{RUN_TAG}_console"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_url.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    db.dispose_engines()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def console_database(console_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """This test talks to the console's database, emptied first."""
    monkeypatch.setenv("DATABASE_URL", console_db)
    config.get_settings.cache_clear()
    db.dispose_engines()
    with db.get_engine(console_db).begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())
    return console_db


#: The scrape token the console accepts on /metrics (tests/web/browser/test_metrics.py).
METRICS_TOKEN = "browser-tests-scrape-token"
GRAFANA_URL = "http://grafana.invalid"


@pytest.fixture(scope="session")
def prometheus_port() -> int:
    """The port the console's PROMETHEUS_URL names; the metrics tests start (and stop) a
    Prometheus there, so the console sees it come and go without a rebuild."""
    return free_port()


@pytest.fixture(scope="session")
def console(
    console_db: str,
    redis_db: str,
    tmp_path_factory: pytest.TempPathFactory,
    prometheus_port: int,
) -> Iterator[Console]:
    """`etl-orchestrator web` on a free port, built once for the whole test session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (or `make chromium`)")
    folder = tmp_path_factory.mktemp("console")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": console_db,
        "REDIS_URL": redis_db,
        "ETL_PARALLEL_JOBS": "4",
        "DATA_DIR": str(folder / "data"),
        "BASE_URL": base,
        "ETL_ENV": "Stage",
        "GRANIAN_WORKERS": "2",
        # The browser reaches the console from loopback: it stands in for a trusted proxy when
        # a test sends the identity headers (no other test does).
        "ETL_TRUSTED_PROXIES": "127.0.0.1",
        "ETL_PROXY_GROUP_ROLES": "etl-ops=operator,etl-staff=viewer",
        "PROMETHEUS_URL": f"http://127.0.0.1:{prometheus_port}",
        "ETL_METRICS_TOKEN": METRICS_TOKEN,
        # Grafana cannot run here: the metrics views only link to it and embed its panels.
        "GRAFANA_URL": GRAFANA_URL,
        "GRAFANA_EMBED": "anonymous",
    }
    log = folder / "web.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "etl_orchestrator", "web", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + BUILD_TIMEOUT_S
        while not answers(f"{base}/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the console did not start; its output:\n{log.read_text()[-4000:]}")
            time.sleep(0.25)
        yield Console(base, log)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module scope: Playwright's sync API holds an event loop open, which async tests after
    this module could not run beside."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core from npm, installed under the repo's node_modules/ the first time."""
    if not AXE.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--no-save",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(ROOT),
                "axe-core@4",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return AXE


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def publishing() -> Iterator[None]:
    """Run changes made by the test reach etl:events, as the engine's would."""
    events.install()
    yield
    db.remove_after_commit_hook(events.publish)


@pytest.fixture
def engine(
    console_database: str, redis_db: str, tmp_path: Path, console: Console
) -> Iterator[Engine]:
    env = {
        **os.environ,
        "DATABASE_URL": console_database,
        "REDIS_URL": redis_db,
        "DATA_DIR": str(tmp_path / "data"),
        "ETL_PARALLEL_JOBS": "4",
    }
    running = Engine(env, tmp_path / "engine.log", {})
    try:
        yield running
    finally:
        for command in list(running.processes):
            running.stop(command)
