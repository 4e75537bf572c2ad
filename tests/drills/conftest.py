"""Outage drill fixtures: a private Redis and PostgreSQL per drill, engine processes to break.

Drills never touch the shared test servers: each starts its own redis-server and its own
PostgreSQL cluster on free loopback ports, so it can kill, flush and stop them at will.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from sqlalchemy import func
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from etl_orchestrator import config, db, events, redis_conn
from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.migrations import upgrade
from etl_orchestrator.models import Run, WorkerRecord
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.states import HOLDS_SLOT
from etl_orchestrator.timeutil import utcnow
from tests.drills.drill_jobs import JOURNAL_ENV

REPO = Path(__file__).resolve().parents[2]
JOBS_MODULE = "tests.drills.drill_jobs"
PG_BIN = Path(os.environ.get("ETL_DRILL_PG_BIN", "/usr/lib/postgresql/15/bin"))
CAP = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


class RedisServer:
    """A redis-server that keeps nothing on disk: a restart loses every key."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is missing: apt-get install redis-server")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
        ]  # fmt: skip
        with (self.workdir / "redis.log").open("ab") as logfile:
            self.process = subprocess.Popen(argv, stdout=logfile, stderr=logfile)
        wait_for("the private Redis to answer", self.answers, 10)

    def answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, and every key is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart_empty(self) -> None:
        self.kill()
        self.start()


class PgCluster:
    """A PostgreSQL cluster of its own under /tmp (initdb refuses root: it runs as postgres)."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(f"PostgreSQL server binaries not found in {PG_BIN}: set ETL_DRILL_PG_BIN")
        # /tmp, not pytest's tmp_path: the postgres user cannot enter root's 0700 pytest folder.
        self.datadir = Path(tempfile.mkdtemp(prefix="etl-drill-pg-"))
        self.port = free_port()
        self._as_owner_prefix: list[str] = []
        if os.geteuid() == 0:
            owner = shutil.which("runuser")
            if owner is None:
                pytest.fail("running as root without runuser: cannot start PostgreSQL (util-linux)")
            shutil.chown(self.datadir, user="postgres", group="postgres")
            self._as_owner_prefix = [owner, "-u", "postgres", "--"]
        self._pg(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "--no-sync",
            "-E", "UTF8",
        )  # fmt: skip

    def _pg(self, tool: str, *args: str) -> None:
        argv = [*self._as_owner_prefix, str(PG_BIN / tool), *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr[-2000:]}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._pg(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.datadir / "server.log"),
            "-o", options, "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` is a crash: connections drop at once and restart runs crash recovery."""
        self._pg("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)


@dataclass
class EngineProcess:
    """`etl-orchestrator <command>` as a child process with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def private_pg() -> Iterator[PgCluster]:
    cluster = PgCluster()
    try:
        cluster.start()
        upgrade(cluster.url)
        yield cluster
    finally:
        db.dispose_engines()
        cluster.destroy()


def _reset_process_caches() -> None:
    config.get_settings.cache_clear()
    redis_conn.sync_client.cache_clear()
    db.dispose_engines()


@pytest.fixture(autouse=True)
def etl_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    private_redis: RedisServer,
    private_pg: PgCluster,
) -> Iterator[Path]:
    """Replaces the suite's fixture of the same name: this drill's own servers, not the shared."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("DATABASE_URL", private_pg.url)
    monkeypatch.setenv("REDIS_URL", private_redis.url)
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{data_dir / 'warehouse.db'}")
    monkeypatch.setenv("ETL_PARALLEL_JOBS", str(CAP))
    monkeypatch.setenv("ETL_JOBS_MODULES", JOBS_MODULE)
    monkeypatch.setenv(JOURNAL_ENV, str(tmp_path / "journal.txt"))
    monkeypatch.delenv("ETL_ENV", raising=False)
    _reset_process_caches()
    with session_scope() as session:
        sync_jobs(session, load_jobs((JOBS_MODULE,)), now=utcnow())
    events.install()
    yield data_dir
    db.remove_after_commit_hook(events.publish)
    _reset_process_caches()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[str], EngineProcess]]:
    """Start `etl-orchestrator <command>` with this drill's environment; stopped at the end."""
    started: list[EngineProcess] = []

    def start(command: str) -> EngineProcess:
        log_path = tmp_path / f"{command}-{len(started)}.log"
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with log_path.open("ab") as logfile:
            process = subprocess.Popen(
                [sys.executable, "-m", "etl_orchestrator", command],
                cwd=REPO,
                env=env,
                stdout=logfile,
                stderr=subprocess.STDOUT,
            )
        item = EngineProcess(name=command, process=process, log_path=log_path)
        started.append(item)
        return item

    yield start
    for item in started:
        item.stop()
    for item in started:
        # Shown by pytest only when the drill failed.
        print(f"----- {item.name} (exit {item.process.returncode}) -----\n{item.tail()}")


@dataclass
class SlotWatch:
    """Samples dispatched+running from the database until stopped; keeps the highest count."""

    peak: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                with session_scope() as session:
                    held = session.exec(
                        select(func.count()).where(col(Run.status).in_(sorted(HOLDS_SLOT)))
                    ).one()
            except OperationalError:
                continue  # the drill took the database away: nothing to sample
            self.peak = max(self.peak, int(held))
            self.samples += 1


@pytest.fixture
def slot_watch() -> Iterator[SlotWatch]:
    watch = SlotWatch()
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    yield watch
    watch._stop.set()
    thread.join(5)


def executions(journal: Path) -> dict[int, list[tuple[str, int, float]]]:
    """Journal lines by run: (event, attempt, time)."""
    by_run: dict[int, list[tuple[str, int, float]]] = defaultdict(list)
    if journal.exists():
        for line in journal.read_text().splitlines():
            event, run_id, attempt, ts = line.split()
            by_run[int(run_id)].append((event, int(attempt), float(ts)))
    return by_run


def peak_overlap(journal: Path) -> int:
    """The most attempts that were executing at the same moment."""
    marks = sorted(
        (ts, 1 if event == "start" else -1)
        for lines in executions(journal).values()
        for event, _attempt, ts in lines
    )
    running = peak = 0
    for _ts, step in marks:
        running += step
        peak = max(peak, running)
    return peak


def trigger_naps(count: int, seconds: float) -> list[int]:
    run_ids: list[int] = []
    for _ in range(count):
        with session_scope() as session:
            result = run_service.trigger(
                session,
                job_id="drill_nap",
                params={"seconds": seconds},
                requested_by="drill",
                reason="outage drill",
            )
            run_ids += result.run_ids
    return run_ids


def statuses(run_ids: list[int]) -> dict[int, str]:
    with session_scope() as session:
        rows = session.exec(select(Run.run_id, Run.status).where(col(Run.run_id).in_(run_ids)))
        return {run_id or 0: status for run_id, status in rows}


def a_worker_is_registered() -> bool:
    with session_scope() as session:
        query = select(WorkerRecord).where(~col(WorkerRecord.worker_id).startswith("scheduler:"))
        return session.exec(query).first() is not None
