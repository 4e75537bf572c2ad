"""Runs one attempt isolated: in a forked child that can always be killed, or a cooperative thread.

The child is forked from the pre-imported worker, so it starts in a few milliseconds. It reports
over a pipe (JSON lines: log records, a warehouse backend pid, the result); its stdout and
stderr go through a second pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from etl_orchestrator.engine import thread_capture
from etl_orchestrator.engine.thread_capture import Send
from etl_orchestrator.procutil import die_with_parent

#: What a forked child runs; its result is sent as the final message (None: nothing is sent).
ChildTarget = Callable[[Send], dict[str, Any] | None]
T = TypeVar("T")
#: After a cancel request the job gets this long to stop by itself before it is killed.
CANCEL_GRACE_S = 2.0


@dataclass
class ChildExit:
    """How the child ended: its result message, or why there is none."""

    result: dict[str, Any] | None
    timed_out: bool
    cancelled: bool
    exit_code: int | None
    signal: int | None

    @classmethod
    def of(
        cls, result: dict[str, Any] | None, *, timed_out: bool, cancelled: bool, status: int
    ) -> ChildExit:
        """From a process's wait status (os.waitpid's)."""
        code = os.waitstatus_to_exitcode(status)
        return cls(
            result=result,
            timed_out=timed_out,
            cancelled=cancelled,
            exit_code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
        )


class LinePipe:
    """Non-blocking line reader on one pipe fd, feeding complete lines to a callback."""

    def __init__(self, fd: int, on_line: Callable[[bytes], None]) -> None:
        self.fd = fd
        self.on_line = on_line
        self.buffer = b""
        self.closed = False
        os.set_blocking(fd, False)

    def read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                self.close()
                return
            self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            for line in lines:
                self.on_line(line)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.buffer:
            self.on_line(self.buffer)
            self.buffer = b""
        with contextlib.suppress(OSError):
            asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)


def _child(target: ChildTarget, msg_w: int, out_w: int, tie: Callable[[], None]) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
        gc.disable()
        os.setsid()
        # A worker killed with SIGKILL must not leave its attempt running beside the retry.
        tie()
        # The parent's event loop owns the inherited wakeup fd and signal handlers.
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.close(out_w)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
        writer = io.FileIO(msg_w, "w", closefd=False)

        def send(message: dict[str, Any]) -> None:
            writer.write(json.dumps(message, default=str).encode() + b"\n")

        result = target(send)
        if result is not None:
            send({"t": "result", **result})
    except BaseException:
        code = 70
        with contextlib.suppress(BaseException):
            os.write(2, traceback.format_exc().encode())
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class ForkGate:
    """Keeps this process's forks and its own database threads apart, when that database is SQLite.

    SQLite is not fork-safe: a child forked while another thread is inside SQLite inherits
    SQLite's process-wide mutexes (its allocator's, its file layer's) locked, and hangs at its
    first SQLite call. A SQL job on the embedded warehouse hung that way until its timeout,
    forked just as the worker's thread claimed the next delivery in etl.db. So a fork waits
    until no call made through `call` is in flight, and calls asked for meanwhile wait for it.
    With PostgreSQL as the orchestrator database the gate is open: no wait on either side.
    """

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._calls = 0
        self._forks = 0
        self._waiters: list[asyncio.Future[None]] = []

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the default executor, never while a fork is under way."""
        if not self.enabled:
            return await asyncio.to_thread(fn, *args)
        await self._until(lambda: self._forks == 0)
        self._calls += 1
        future = asyncio.get_running_loop().run_in_executor(None, fn, *args)

        def finished(_: asyncio.Future[T]) -> None:
            self._calls -= 1
            self._wake()

        future.add_done_callback(finished)
        # A caller that gives up does not stop the thread: it stays counted until it returns.
        return await asyncio.shield(future)

    async def quiet(self) -> None:
        """Return once no call is in flight; fork before the next await, then call forked()."""
        if not self.enabled:
            return
        self._forks += 1
        try:
            await self._until(lambda: self._calls == 0)
        except BaseException:
            self.forked()
            raise

    def forked(self) -> None:
        if self.enabled:
            self._forks -= 1
            self._wake()

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


#: For code outside a worker (tests, benchmarks): no gate.
OPEN_GATE = ForkGate(enabled=False)


@dataclass(frozen=True)
class Watch:
    """How the worker watches an attempt, however it runs: its limit, what it reports, and how
    to stop it."""

    timeout_s: float
    on_message: Callable[[dict[str, Any]], None]
    on_output: Callable[[str, str], None]
    cancel: asyncio.Event | None = None
    #: Called when the attempt is killed or asked to stop (ends its warehouse queries).
    on_kill: Callable[[], None] | None = None


def message_line(
    line: bytes,
    *,
    on_result: Callable[[dict[str, Any]], None],
    on_message: Callable[[dict[str, Any]], None],
    on_output: Callable[[str, str], None],
) -> None:
    """One line of a child's message pipe: its result, another message, or stray output."""
    if not line.strip():
        return
    try:
        message = json.loads(line)
    except ValueError:
        # Not ours: something in the child wrote to the pipe's fd.
        on_output("stderr", line.decode(errors="replace"))
        return
    if message.get("t") == "result":
        on_result(message)
    else:
        on_message(message)


async def fork_child(
    target: ChildTarget, gate: ForkGate, *, worker_ends: tuple[int, int] | None = None
) -> tuple[int, int, int]:
    """Fork a child that runs `target(send)`: (its pid, its message pipe, its output pipe).

    `worker_ends` is one more pipe (read end, write end) for the worker to write to the child:
    the child closes the write end, the worker the read end.
    """
    msg_r, msg_w = os.pipe()
    out_r, out_w = os.pipe()
    # Objects that exist now are left out of the child's garbage collections, so the child does
    # not write to (and copy) every page it shares with the worker.
    tie = die_with_parent(signal.SIGKILL)
    await gate.quiet()
    try:
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child leaves through os._exit
            os.close(msg_r)
            os.close(out_r)
            if worker_ends is not None:
                os.close(worker_ends[1])
            _child(target, msg_w, out_w, tie)
        # Only the child keeps them frozen: frozen in the worker, every cycle that was garbage at
        # a fork would never be collected (a worker grew ~46 MiB in 1,000 attempts).
        gc.unfreeze()
    finally:
        gate.forked()
    os.close(msg_w)
    os.close(out_w)
    if worker_ends is not None:
        os.close(worker_ends[0])
    return pid, msg_r, out_r


async def supervise(
    pid: int, finished: asyncio.Event, exited: asyncio.Event, watch: Watch
) -> tuple[bool, bool]:
    """Wait until `finished`; stop `pid`'s group on timeout or cancel: (timed_out, cancelled).

    A cancel asks the attempt first (SIGUSR1) and kills it after CANCEL_GRACE_S; a timeout kills
    at once. Once killed, this returns when the process has `exited`.
    """
    timed_out = cancelled = False

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        if watch.on_kill is not None:
            watch.on_kill()

    waiter = asyncio.ensure_future(finished.wait())
    waits: set[asyncio.Future[Any]] = {waiter}
    canceller: asyncio.Future[Any] | None = None
    if watch.cancel is not None:
        canceller = asyncio.ensure_future(watch.cancel.wait())
        waits.add(canceller)
    try:
        done, _ = await asyncio.wait(
            waits, timeout=watch.timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            if canceller is not None and canceller in done:
                cancelled = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGUSR1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(waiter), CANCEL_GRACE_S)
            else:
                timed_out = True
            if not finished.is_set():
                kill()
                await exited.wait()
    except asyncio.CancelledError:
        kill()
        await asyncio.shield(exited.wait())
        raise
    finally:
        waiter.cancel()
        if canceller is not None:
            canceller.cancel()
    return timed_out, cancelled


async def run_in_child(
    target: ChildTarget, watch: Watch, *, gate: ForkGate = OPEN_GATE
) -> ChildExit:
    """Fork, run `target(send)` in the child, and wait; kill the child's group on timeout/cancel."""
    on_message, on_output = watch.on_message, watch.on_output
    loop = asyncio.get_running_loop()
    pid, msg_r, out_r = await fork_child(target, gate)
    result: dict[str, Any] | None = None

    def on_result(message: dict[str, Any]) -> None:
        nonlocal result
        result = message

    def on_msg_line(line: bytes) -> None:
        message_line(line, on_result=on_result, on_message=on_message, on_output=on_output)

    def on_out_line(line: bytes) -> None:
        on_output("stdout", line.decode(errors="replace"))

    pipes = [LinePipe(msg_r, on_msg_line), LinePipe(out_r, on_out_line)]
    for pipe in pipes:
        loop.add_reader(pipe.fd, pipe.read)
    exited = asyncio.Event()
    pidfd = os.pidfd_open(pid)
    loop.add_reader(pidfd, exited.set)
    try:
        timed_out, cancelled = await supervise(pid, exited, exited, watch)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)  # noqa: ASYNC222 - it has exited (pidfd): no wait
        for pipe in pipes:
            if not pipe.closed:
                with contextlib.suppress(OSError):
                    os.set_blocking(pipe.fd, False)
                pipe.read()
                pipe.close()
    return ChildExit.of(result, timed_out=timed_out, cancelled=cancelled, status=status)


async def run_in_thread(
    target: Callable[[Send, Callable[[], bool]], dict[str, Any]],
    watch: Watch,
    *,
    executor: Executor,
) -> ChildExit:
    """Run a cooperative `target(send, stop_requested)` in `executor`; same report as a child.

    A thread cannot be killed: on timeout or cancel the job is asked to stop (its
    ctx.check_cancelled() raises) and given CANCEL_GRACE_S; if it runs on, the attempt is
    reported as ended anyway and the thread finishes in the background, its output dropped.
    """
    timeout_s, on_message, on_output = watch.timeout_s, watch.on_message, watch.on_output
    cancel, on_kill = watch.cancel, watch.on_kill
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    live = threading.Event()
    live.set()

    def deliver(callback: Callable[..., None], *args: Any) -> None:
        if live.is_set():
            loop.call_soon_threadsafe(_if_live, live, callback, *args)

    def send(message: dict[str, Any]) -> None:
        deliver(on_message, message)

    def output(stream: str, line: str) -> None:
        deliver(on_output, stream, line)

    def body() -> dict[str, Any]:
        with thread_capture.captured(send, output):
            return target(send, stop.is_set)

    future = asyncio.ensure_future(loop.run_in_executor(executor, body))
    waits: set[asyncio.Future[Any]] = {future}
    canceller = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    if canceller is not None:
        waits.add(canceller)
    timed_out = cancelled = False
    try:
        done, _ = await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if future not in done:
            cancelled = canceller is not None and canceller in done
            timed_out = not cancelled
            stop.set()
            if on_kill is not None:
                on_kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), CANCEL_GRACE_S)
    except asyncio.CancelledError:
        # The worker is stopping: ask the job to stop too, as a forked attempt would be killed.
        stop.set()
        raise
    finally:
        if canceller is not None:
            canceller.cancel()
    # Let the lines the thread sent before it ended reach the callbacks, then stop listening.
    await asyncio.sleep(0)
    live.clear()
    result: dict[str, Any] | None = None
    if future.done() and not future.cancelled() and future.exception() is None:
        result = future.result()
    return ChildExit(
        result=result,
        timed_out=timed_out,
        cancelled=cancelled,
        exit_code=0 if future.done() else None,
        signal=None,
    )


def _if_live(live: threading.Event, callback: Callable[..., None], *args: Any) -> None:
    if live.is_set():
        callback(*args)
