"""The dev supervisor, with small real child processes: prefixes, restarts, clean shutdown."""

from __future__ import annotations

import io
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from etl_orchestrator.supervisor import ChildSpec, RestartPolicy, Supervisor
from tests.waiting import is_gone, wait_until

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 15.0

SLEEPER = "import time; print('ready', flush=True); time.sleep(120)"
SPAWNER = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
    print('grandchild', child.pid, flush=True)
    time.sleep(120)
    """
)
STUBBORN = textwrap.dedent(
    """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print('ready', flush=True)
    time.sleep(120)
    """
)


def pid_of(name: str, output: str) -> int:
    match = re.search(rf"started {name} \(pid (\d+)\)", output)
    assert match, f"{name} was not started: {output}"
    return int(match[1])


def python(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code])


@pytest.fixture
def supervise():
    """Run a Supervisor in a thread; the test gets it, its output and a join()."""
    running: list[tuple[Supervisor, threading.Thread]] = []

    def start(children, **kwargs):
        out = io.StringIO()
        supervisor = Supervisor(children, out=out, poll_s=0.02, **kwargs)
        result: dict[str, int] = {}
        thread = threading.Thread(target=lambda: result.update(code=supervisor.run()))
        thread.start()
        running.append((supervisor, thread))

        def join() -> int:
            supervisor.request_stop()
            thread.join(WAIT_S)
            assert not thread.is_alive(), "supervisor did not stop"
            return result["code"]

        return supervisor, out, join, thread

    yield start
    for supervisor, thread in running:
        supervisor.request_stop()
        supervisor.request_stop()
        thread.join(WAIT_S)


def test_restart_delay_doubles_from_the_base_and_stops_at_the_cap():
    policy = RestartPolicy(base_s=1, factor=2, max_s=10)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_each_output_line_is_prefixed_with_the_name_of_the_child_that_wrote_it(supervise):
    _, out, join, _ = supervise(
        [
            python("alpha", "import time; print('one'); print('two'); time.sleep(120)"),
            python("b", "import sys, time; print('oops', file=sys.stderr); time.sleep(120)"),
        ]
    )
    wait_until(lambda: "oops" in out.getvalue() and "two" in out.getvalue(), "child output")
    assert join() == 0
    lines = out.getvalue().splitlines()
    assert "alpha | one" in lines
    assert "alpha | two" in lines
    assert "b     | oops" in lines
    assert any(line.startswith("dev   | started alpha (pid ") for line in lines)


def test_a_child_that_exits_is_restarted_after_a_growing_delay(supervise):
    _, out, join, _ = supervise(
        [python("flaky", "print('up', flush=True); raise SystemExit(3)")],
        restart=RestartPolicy(base_s=0.05, factor=2, max_s=10, stable_s=60),
    )
    wait_until(lambda: out.getvalue().count("flaky | up") >= 3, "three starts")
    join()
    delays = [
        float(m)
        for m in re.findall(r"exited with code 3 after .* s; restarting in (\S+) s", out.getvalue())
    ]
    assert len(delays) >= 2
    assert delays[:3] == [0.05, 0.1, 0.2][: len(delays[:3])]


def test_a_child_killed_by_a_signal_is_reported_by_name_and_restarted(supervise):
    _, out, join, _ = supervise([python("victim", SLEEPER)], restart=RestartPolicy(base_s=0.05))
    wait_until(lambda: "victim | ready" in out.getvalue(), "victim")
    os.kill(pid_of("victim", out.getvalue()), signal.SIGKILL)
    wait_until(lambda: out.getvalue().count("victim | ready") >= 2, "the restart")
    join()
    assert "victim was killed by SIGKILL" in out.getvalue()


def test_stop_ends_every_child_and_what_they_started(supervise):
    _, out, join, _ = supervise([python("sleeper", SLEEPER), python("spawner", SPAWNER)])
    grandchild = int(wait_until(lambda: re.search(r"grandchild (\d+)", out.getvalue()), "spawn")[1])
    wait_until(lambda: "sleeper | ready" in out.getvalue(), "sleeper")
    pids = [int(p) for p in re.findall(r"started \w+ \(pid (\d+)\)", out.getvalue())]
    assert join() == 0
    for pid in [*pids, grandchild]:
        wait_until(lambda pid=pid: is_gone(pid), f"pid {pid} to end")
    assert "restarting" not in out.getvalue()
    assert out.getvalue().splitlines()[-1] == "dev     | stopped"


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(supervise):
    _, out, join, _ = supervise([python("stubborn", STUBBORN)], grace_s=0.3)
    wait_until(lambda: "stubborn | ready" in out.getvalue(), "stubborn")
    pid = pid_of("stubborn", out.getvalue())
    assert join() == 0
    assert "stubborn did not stop in time; killing it" in out.getvalue()
    wait_until(lambda: is_gone(pid), "the stubborn child to end")


def test_abort_condition_stops_the_children_and_returns_one(supervise):
    reason: list[str] = []
    _, out, _, thread = supervise(
        [python("sleeper", SLEEPER)], abort_if=lambda: reason[0] if reason else None
    )
    wait_until(lambda: "sleeper | ready" in out.getvalue(), "sleeper")
    pid = pid_of("sleeper", out.getvalue())
    reason.append("the embedded Redis exited")
    thread.join(WAIT_S)
    assert not thread.is_alive()
    assert "the embedded Redis exited" in out.getvalue()
    wait_until(lambda: is_gone(pid), "the child to end")


SUPERVISOR_SCRIPT = textwrap.dedent(
    """
    import sys
    from etl_orchestrator.supervisor import ChildSpec, Supervisor, stop_on_signals

    children = [
        ChildSpec(name, [sys.executable, "-c", code])
        for name, code in zip(sys.argv[1::2], sys.argv[2::2])
    ]
    supervisor = Supervisor(children, grace_s=0.5)
    with stop_on_signals(supervisor):
        sys.exit(supervisor.run())
    """
)


class Lines:
    """Reads a process's output on a thread so the test can wait for a line with a timeout."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + WAIT_S
        while True:
            for line in self.seen:
                if match := re.search(pattern, line):
                    return match
            try:
                self.seen.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no line matched {pattern!r}; got {self.seen}") from None


@pytest.fixture
def supervisor_process(tmp_path):
    started: list[subprocess.Popen[str]] = []

    def start(*children: tuple[str, str]) -> tuple[subprocess.Popen[str], Lines]:
        script = tmp_path / "supervise.py"
        script.write_text(SUPERVISOR_SCRIPT)
        argv = [sys.executable, str(script)] + [part for child in children for part in child]
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        started.append(process)
        return process, Lines(process.stdout)

    yield start
    for process in started:
        for proc in (
            psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        ):
            proc.kill()
        if process.poll() is None:
            process.kill()
        process.wait()


def test_sigint_stops_every_process_and_the_supervisor_exits_zero(supervisor_process):
    process, lines = supervisor_process(
        ("sleeper", SLEEPER), ("spawner", SPAWNER), ("stubborn", STUBBORN)
    )
    lines.wait_for(r"^sleeper +\| ready")
    lines.wait_for(r"^stubborn +\| ready")
    grandchild = int(lines.wait_for(r"^spawner +\| grandchild (\d+)")[1])
    descendants = psutil.Process(process.pid).children(recursive=True)
    assert grandchild in {proc.pid for proc in descendants}
    assert len(descendants) >= 4

    process.send_signal(signal.SIGINT)
    assert process.wait(WAIT_S) == 0
    for proc in descendants:
        wait_until(lambda proc=proc: is_gone(proc.pid), f"{proc.pid} to end")
    lines.wait_for(r"^dev +\| stopped$")


def test_children_are_stopped_even_if_the_supervisor_is_killed_outright(supervisor_process):
    process, lines = supervisor_process(("sleeper", SLEEPER))
    lines.wait_for(r"^sleeper +\| ready")
    child = int(lines.wait_for(r"started sleeper \(pid (\d+)\)")[1])
    process.kill()
    process.wait()
    wait_until(lambda: is_gone(child), "the orphaned child to end")
