"""Runs child processes for `dev`: prefixed output, restart with backoff, clean group shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TextIO

from etl_orchestrator.procutil import die_with_parent, signal_group

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_COLOURS = ("36", "33", "35", "32", "34", "31")


@dataclass(frozen=True)
class ChildSpec:
    """A long-running program to keep alive: its name (the output prefix), argv and environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None


@dataclass(frozen=True)
class RestartPolicy:
    """Wait min(max_s, base_s * factor**(n-1)) before the n-th quick restart in a row.

    A child that ran for at least `stable_s` before it died counts as healthy again (n = 1).
    """

    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0
    stable_s: float = 30.0

    def delay(self, failures: int) -> float:
        return float(min(self.max_s, self.base_s * self.factor ** max(0, failures - 1)))


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None


def _child_env(spec: ChildSpec) -> dict[str, str]:
    env = dict(os.environ if spec.env is None else spec.env)
    # Python children would otherwise hold their output in a pipe buffer until it fills.
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _has_exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it.

    An unreaped leader keeps its process-group id from being reused, so the group can still be
    signalled safely to kill anything the child left behind.
    """
    if process.returncode is not None:
        return True
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


class Supervisor:
    """Starts each child in its own process group and keeps it running until asked to stop.

    `run()` blocks; `request_stop()` may be called from a signal handler or another thread
    (a second call skips the grace period). Children get SIGTERM, then SIGKILL after `grace_s`,
    and every process left in their groups is killed, so nothing outlives the supervisor.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        out: TextIO | None = None,
        name: str = "dev",
        restart: RestartPolicy | None = None,
        grace_s: float = 10.0,
        poll_s: float = 0.1,
        abort_if: Callable[[], str | None] | None = None,
    ) -> None:
        names = [spec.name for spec in children]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique: {names}")
        self._children = [_Child(spec) for spec in children]
        self._out = out or sys.stdout
        self._name = name
        self._restart = restart or RestartPolicy()
        self._grace_s = grace_s
        self._poll_s = poll_s
        self._abort_if = abort_if
        self._width = max([len(name), *map(len, names)])
        self._colour = bool(getattr(self._out, "isatty", lambda: False)())
        self._write_lock = threading.Lock()
        # Plain attributes, not threading.Event: a signal handler that takes a lock the main
        # thread already holds would deadlock.
        self._stop_requests = 0
        self._stopping = False

    def _prefix(self, name: str, index: int) -> str:
        label = f"{name:<{self._width}} |"
        if self._colour:
            label = f"\x1b[{_COLOURS[index % len(_COLOURS)]}m{label}\x1b[0m"
        return label + " "

    def write_line(self, name: str, index: int, line: str) -> None:
        with self._write_lock:
            self._out.write(self._prefix(name, index) + line.rstrip("\r\n") + "\n")
            self._out.flush()

    def say(self, message: str) -> None:
        """Print a line of the supervisor's own, prefixed with its name."""
        for line in message.splitlines() or [""]:
            self.write_line(self._name, len(self._children), line)

    def request_stop(self) -> None:
        self._stop_requests += 1

    @property
    def stopping(self) -> bool:
        return self._stopping or self._stop_requests > 0

    def run(self) -> int:
        """Supervise until asked to stop; 0 after a requested stop, 1 if `abort_if` fired."""
        code = 0
        try:
            for child in self._children:
                self._start(child)
            while not self.stopping:
                reason = self._abort_if() if self._abort_if else None
                if reason:
                    self.say(f"{reason}\nstopping everything")
                    code = 1
                    break
                self._tick(time.monotonic())
                time.sleep(self._poll_s)
        finally:
            self._stopping = True
            self._stop_all()
        return code

    def run_step(self, spec: ChildSpec) -> int:
        """Run a one-off command to completion, its output prefixed like a child's."""
        process = subprocess.Popen(  # noqa: S603 - argv comes from the caller's ChildSpec
            list(spec.argv),
            env=_child_env(spec),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        with process.stdout as stream:
            for raw in iter(stream.readline, b""):
                self.write_line(spec.name, len(self._children), raw.decode("utf-8", "replace"))
        return process.wait()

    def _pump(self, child: _Child, index: int, stream: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                self.write_line(child.spec.name, index, raw.decode("utf-8", "replace"))

    def _start(self, child: _Child) -> None:
        index = self._children.index(child)
        try:
            process = subprocess.Popen(  # noqa: S603 - argv comes from the caller's ChildSpec
                list(child.spec.argv),
                env=_child_env(child.spec),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        except OSError as error:
            child.failures += 1
            delay = self._restart.delay(child.failures)
            self.say(f"could not start {child.spec.name}: {error}; trying again in {delay:g} s")
            child.restart_at = time.monotonic() + delay
            return
        assert process.stdout is not None
        child.process = process
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pump = threading.Thread(
            target=self._pump,
            args=(child, index, process.stdout),
            name=f"pump-{child.spec.name}",
            daemon=True,
        )
        child.pump.start()
        self.say(f"started {child.spec.name} (pid {process.pid})")

    def _tick(self, now: float) -> None:
        for child in self._children:
            if child.process is not None and _has_exited(child.process):
                self._schedule_restart(child, now, self._reap(child))
            if child.process is None and child.restart_at is not None and now >= child.restart_at:
                self._start(child)

    def _reap(self, child: _Child) -> int:
        process = child.process
        assert process is not None
        # Whatever the child started lives on in its group: kill it before the id can be reused.
        signal_group(process.pid, signal.SIGKILL)
        code = process.wait()
        if child.pump is not None:
            child.pump.join(timeout=2)
        child.process = None
        child.pump = None
        return code

    def _schedule_restart(self, child: _Child, now: float, code: int) -> None:
        ran_s = now - child.started_at
        child.failures = 1 if ran_s >= self._restart.stable_s else child.failures + 1
        delay = self._restart.delay(child.failures)
        child.restart_at = now + delay
        self.say(
            f"{child.spec.name} {_describe_exit(code)} after {ran_s:.1f} s; "
            f"restarting in {delay:g} s"
        )

    def _stop_all(self) -> None:
        running = [c for c in self._children if c.process is not None]
        if running:
            self.say("stopping " + ", ".join(c.spec.name for c in running))
        for child in running:
            assert child.process is not None
            signal_group(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._grace_s
        for child in running:
            process = child.process
            assert process is not None
            while not _has_exited(process):
                # A second Ctrl-C means: do not wait any longer.
                if time.monotonic() >= deadline or self._stop_requests > 1:
                    self.say(f"{child.spec.name} did not stop in time; killing it")
                    break
                time.sleep(0.02)
            self._reap(child)
        self.say("stopped")


@contextmanager
def stop_on_signals(
    supervisor: Supervisor, signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> Iterator[None]:
    """Make SIGINT/SIGTERM/SIGHUP ask `supervisor` to stop (call from the main thread)."""

    def handle(_signum: int, _frame: object) -> None:
        supervisor.request_stop()

    previous = {sig: signal.signal(sig, handle) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
