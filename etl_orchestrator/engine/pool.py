"""Reusable attempt processes for jobs declared `reuse_process=True`: killable, without a fork each.

A fresh child per attempt costs this machine about 3.6 ms of CPU in fork and exit alone, more
than a no-op run's whole bookkeeping. A pooled process is forked the same way, but serves
attempt after attempt: the worker sends it one request at a time and it answers as a fresh
child would (log records, warehouse backend pids, output lines, then the result). A timeout
or an unheeded cancel kills its process group exactly like a fresh child's, and the process
is never reused after that, nor after a crash, a cancel request, or an attempt that left a
thread behind. It retires after MAX_USES attempts or MAX_AGE_S, so what an attempt leaves
behind in the process (module state, caches, inherited sockets of connections the worker
has closed meanwhile) lives only so long.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import signal
import struct
import sys
import threading
import time
from typing import Any

from etl_orchestrator.engine.attempt import AttemptInput, run_attempt_in_child
from etl_orchestrator.engine.isolation import (
    OPEN_GATE,
    ChildExit,
    ForkGate,
    LinePipe,
    Watch,
    fork_child,
    message_line,
    supervise,
)
from etl_orchestrator.engine.thread_capture import Send
from etl_orchestrator.jobs.spec import JobSpec

log = logging.getLogger(__name__)
MAX_USES = 200
MAX_AGE_S = 60.0
#: An idle process unused this long is stopped (checked on every heartbeat of the worker).
IDLE_S = 10.0
#: How long a process asked to stop has before it is killed.
STOP_GRACE_S = 5.0
#: Ends an attempt's output: its lines went through another pipe than its result.
END_OF_OUTPUT = b"\x00etl:end-of-attempt"
#: How long after its result an attempt's end of output may come (a job that redirected its
#: stdout away never sends it: the attempt ends anyway, and the process is not reused).
OUTPUT_GRACE_S = 1.0
_HEADER = struct.Struct("!I")


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _serve(specs: dict[str, JobSpec], requests: int, send: Send) -> None:
    """The pooled process's loop: one attempt per request, until told to stop (or orphaned)."""
    # Frozen at the fork, the worker's objects stay out of collections; the attempts' own
    # garbage must be collected, as this process lives on.
    gc.enable()
    stdout, stderr = sys.stdout, sys.stderr
    while True:
        header = _read_exactly(requests, _HEADER.size)
        if header is None:
            return
        body = _read_exactly(requests, _HEADER.unpack(header)[0])
        if body is None:
            return
        job_id, data = pickle.loads(body)  # noqa: S301 - the worker that forked us wrote it
        if job_id is None:
            return
        sys.stdout, sys.stderr = stdout, stderr
        result = run_attempt_in_child(specs[job_id], data, send)
        result["threads"] = threading.active_count()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        send({"t": "result", **result})
        # A job that closed its stdout loses only this marker: the worker then stops waiting for
        # it after OUTPUT_GRACE_S and does not reuse this process.
        with contextlib.suppress(OSError):
            os.write(1, END_OF_OUTPUT + b"\n")


class _Process:
    """The worker's side of one pooled process."""

    def __init__(self, pid: int, requests: int, msg_r: int, out_r: int) -> None:
        self.pid = pid
        self.requests = requests
        self.born = self.last_used = time.monotonic()
        self.uses = 0
        self.reusable = True
        self.watch: Watch | None = None
        self.result: dict[str, Any] | None = None
        self.output_ended = False
        self.finished = asyncio.Event()
        self.exited = asyncio.Event()
        self.status = 0
        loop = asyncio.get_running_loop()
        self.pipes = [LinePipe(msg_r, self._on_message), LinePipe(out_r, self._on_output)]
        for pipe in self.pipes:
            loop.add_reader(pipe.fd, pipe.read)
        self.pidfd = os.pidfd_open(pid)
        loop.add_reader(self.pidfd, self._on_exit)

    def begin(self, job_id: str, data: AttemptInput, watch: Watch) -> None:
        self.watch, self.result, self.output_ended = watch, None, False
        self.finished.clear()
        self.uses += 1
        self._request((job_id, data))

    def _request(self, request: tuple[str | None, AttemptInput | None]) -> None:
        if self.exited.is_set():
            # Its pipe is closed, and the number may be another file's by now.
            self.reusable = False
            return
        body = pickle.dumps(request)
        try:
            # Blocking, and small: the process is idle and reading.
            os.write(self.requests, _HEADER.pack(len(body)) + body)
        except OSError:
            # Gone already: its exit ends the attempt (pidfd), as a crash.
            self.reusable = False

    def _on_message(self, line: bytes) -> None:
        message_line(
            line, on_result=self._on_result, on_message=self._message, on_output=self._stray
        )

    def _on_result(self, message: dict[str, Any]) -> None:
        self.result = message
        self._maybe_finished()
        if not self.finished.is_set():
            asyncio.get_running_loop().call_later(OUTPUT_GRACE_S, self._output_lost, self.uses)

    def _message(self, message: dict[str, Any]) -> None:
        if self.watch is not None:
            self.watch.on_message(message)

    def _stray(self, stream: str, line: str) -> None:
        if self.watch is not None:
            self.watch.on_output(stream, line)

    def _on_output(self, line: bytes) -> None:
        if line.endswith(END_OF_OUTPUT):
            if rest := line[: -len(END_OF_OUTPUT)]:
                self._output(rest.decode(errors="replace"))
            self.output_ended = True
            self._maybe_finished()
            return
        self._output(line.decode(errors="replace"))

    def _output(self, line: str) -> None:
        self._stray("stdout", line)

    def _maybe_finished(self) -> None:
        if self.result is not None and self.output_ended:
            self.finished.set()

    def _output_lost(self, use: int) -> None:
        if use == self.uses and not self.finished.is_set():
            self.reusable = False
            self.finished.set()

    def _on_exit(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.pidfd)
        os.close(self.pidfd)
        _, self.status = os.waitpid(self.pid, 0)
        for pipe in self.pipes:
            if not pipe.closed:
                pipe.read()
                pipe.close()
        os.close(self.requests)
        self.reusable = False
        self.exited.set()
        self.finished.set()

    def stop(self) -> None:
        """Ask it to exit; kill it if it has not within a few seconds."""
        self.reusable = False
        if self.exited.is_set():
            return
        self._request((None, None))
        asyncio.get_running_loop().call_later(STOP_GRACE_S, self.kill_if_alive)

    def kill_if_alive(self) -> None:
        if not self.exited.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)


def _why_retire(process: _Process, result: dict[str, Any] | None, *, cancelled: bool) -> str | None:
    """Why this process must not serve another attempt; None if it may."""
    if process.exited.is_set():
        return "it has exited"
    if cancelled:
        # A late SIGUSR1 could reach its next attempt.
        return "its attempt was cancelled"
    if result is None or not process.reusable:
        return "its attempt's end of output never came"
    if (threads := int(result.get("threads", 1))) > 1:
        return f"its attempt left {threads - 1} thread(s) running"
    if process.uses >= MAX_USES:
        return f"it has served {process.uses} attempts"
    if time.monotonic() - process.born >= MAX_AGE_S:
        return f"it is {MAX_AGE_S:g} s old"
    return None


class AttemptPool:
    """Pooled processes of one worker: an idle one serves the next attempt, or a new one forks."""

    def __init__(self, specs: dict[str, JobSpec], *, gate: ForkGate = OPEN_GATE) -> None:
        self.specs = specs
        self.gate = gate
        self._idle: list[_Process] = []

    async def run(self, job_id: str, data: AttemptInput, watch: Watch) -> ChildExit:
        """Run one attempt in a pooled process; the same report as run_in_child's."""
        process = await self._take()
        try:
            process.begin(job_id, data, watch)
            timed_out, cancelled = await supervise(
                process.pid, process.finished, process.exited, watch
            )
        finally:
            process.watch = None
        result = process.result if process.finished.is_set() else None
        why = _why_retire(process, result, cancelled=cancelled)
        if why is None:
            process.last_used = time.monotonic()
            self._idle.append(process)
        else:
            log.info("pooled attempt process %s retires: %s", process.pid, why)
            process.stop()
        # A process that lives on reads as one that exited normally (status 0).
        return ChildExit.of(result, timed_out=timed_out, cancelled=cancelled, status=process.status)

    async def _take(self) -> _Process:
        """The idle process used last (so the others age out), or a new one."""
        while self._idle:
            process = self._idle.pop()
            if process.reusable:
                return process
        return await self._fork()

    async def _fork(self) -> _Process:
        requests_r, requests_w = os.pipe()
        specs = self.specs

        def serve(send: Send) -> None:
            return _serve(specs, requests_r, send)

        pid, msg_r, out_r = await fork_child(serve, self.gate, worker_ends=(requests_r, requests_w))
        return _Process(pid, requests_w, msg_r, out_r)

    def sweep(self) -> None:
        """Stop idle processes unused for IDLE_S or older than MAX_AGE_S."""
        now = time.monotonic()
        keep: list[_Process] = []
        for process in self._idle:
            if now - process.last_used > IDLE_S or now - process.born > MAX_AGE_S:
                process.stop()
            else:
                keep.append(process)
        self._idle = keep

    async def close(self) -> None:
        """Stop every idle process, killing those still there after STOP_GRACE_S (busy ones end
        with their attempts, which the worker's shutdown cancels)."""
        idle, self._idle = self._idle, []
        for process in idle:
            process.stop()
        waits = [process.exited.wait() for process in idle]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), STOP_GRACE_S)
        for process in idle:
            process.kill_if_alive()
