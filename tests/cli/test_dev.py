"""`etl-orchestrator dev` for real: embedded Redis and SQLite, engine children, clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import redis

from tests.waiting import is_gone, wait_until

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
READY = "press Ctrl-C to stop"


class Dev:
    """One `etl-orchestrator dev` process whose output goes to a file the test can read."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "etl_orchestrator", "dev", "--no-web", *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"dev exited early:\n{self.output}")
            return READY in self.output

        wait_until(ready, f"dev to be ready; output so far:\n{self.output}", WAIT_S)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(WAIT_S)


@pytest.fixture
def dev_env(etl_env: Path) -> dict[str, str]:
    """The embedded default: no DATABASE_URL or REDIS_URL, the CLI test jobs declared."""
    env = dict(os.environ)
    env.update(
        DATA_DIR=str(etl_env),
        DATABASE_URL="",
        REDIS_URL="",
        ETL_JOBS_MODULES="tests.cli.sample_jobs",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def start_dev(tmp_path: Path):
    started: list[Dev] = []

    def start(env: dict[str, str], *args: str) -> Dev:
        dev = Dev(env, tmp_path / f"dev-{len(started)}.out", *args)
        started.append(dev)
        return dev

    yield start
    for dev in started:
        if dev.process.poll() is None:
            for proc in dev.descendants():
                proc.kill()
            dev.process.kill()
            dev.process.wait()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl_orchestrator", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )


def test_dev_runs_jobs_on_the_embedded_stack_and_sigint_leaves_nothing_behind(
    start_dev, dev_env, etl_env
):
    dev = start_dev(dev_env)
    dev.wait_ready()
    wait_until(lambda: "started worker" in dev.output, "the worker", WAIT_S)
    assert "started scheduler" in dev.output
    socket_path = etl_env.resolve() / "redis.sock"
    assert f"redis:       unix://{socket_path}" in dev.output
    assert redis.Redis(unix_socket_path=str(socket_path)).ping()
    with sqlite3.connect(etl_env / "etl.db") as db:
        declared = {row[0] for row in db.execute("SELECT job_id FROM dw_etl_jobs")}
    assert {"greet", "noop", "fails"} <= declared

    # Another process finds the same database and Redis from DATA_DIR alone, as `make run` users do.
    triggered = cli(dev_env, "run", "noop", "--wait", "--reason", "dev smoke test")
    assert triggered.returncode == 0, triggered.stdout + triggered.stderr

    descendants = dev.descendants()
    assert len(descendants) >= 3  # redis-server, scheduler, worker
    assert dev.interrupt() == 0
    for proc in descendants:
        wait_until(lambda proc=proc: is_gone(proc.pid), f"pid {proc.pid} to end", WAIT_S)
    assert not socket_path.exists()
    assert dev.output.rstrip().endswith("stopped")


def test_a_second_dev_on_the_same_data_folder_is_refused(start_dev, dev_env):
    first = start_dev(dev_env)
    first.wait_ready()
    second = cli(dev_env, "dev", "--no-web")
    assert second.returncode == 2
    assert "another `etl-orchestrator dev` is already running" in second.stderr
    assert "DATA_DIR" in second.stderr
    assert first.process.poll() is None
    assert first.interrupt() == 0


def test_with_redis_url_set_no_embedded_redis_is_started(start_dev, dev_env, etl_env):
    configured = os.environ["REDIS_URL"]
    dev = start_dev({**dev_env, "REDIS_URL": configured})
    dev.wait_ready()
    assert f"redis:       {configured}" in dev.output
    assert not (etl_env / "redis.sock").exists()
    assert dev.interrupt() == 0


def test_a_jobs_module_that_cannot_load_stops_dev_with_a_clear_error(start_dev, dev_env, etl_env):
    dev = start_dev({**dev_env, "ETL_JOBS_MODULES": "no_such_jobs_module"})
    assert dev.process.wait(WAIT_S) == 2
    assert "jobs sync` failed" in dev.output
    assert "ETL_JOBS_MODULES" in dev.output
    socket_path = str(etl_env.resolve() / "redis.sock")
    assert not Path(socket_path).exists()
    leftovers = [
        proc
        for proc in psutil.process_iter(["cmdline"])
        if socket_path in (proc.info["cmdline"] or []) and not is_gone(proc.pid)
    ]
    assert leftovers == []
