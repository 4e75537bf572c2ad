"""The engine registry across a fork: a child never waits on a lock the parent's threads held."""

from __future__ import annotations

import os
import signal
import threading
import time

from etl_orchestrator import db


def test_a_child_forked_while_another_thread_holds_the_engine_registry_can_use_the_database(
    pg_url: str,
) -> None:
    parent_engine = db.get_engine(pg_url)
    held, release = threading.Event(), threading.Event()

    def hold_registry() -> None:
        # What a worker thread opening a session does, caught mid-way by the fork.
        with db._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_registry)
    holder.start()
    held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child leaves through os._exit
            code = 1
            try:
                db.dispose_engines()
                with db.get_engine(pg_url).connect() as conn:
                    code = 0 if conn.exec_driver_sql("SELECT 1").scalar() == 1 else 2
            finally:
                os._exit(code)
        deadline = time.monotonic() + 10
        status: int | None = None
        while status is None and time.monotonic() < deadline:
            done, waited = os.waitpid(pid, os.WNOHANG)
            if done:
                status = waited
            else:
                time.sleep(0.05)
        if status is None:  # still waiting on the lock: it would never finish
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert status is not None
    assert os.waitstatus_to_exitcode(status) == 0, "the child hung or failed"
    # The parent's own engine and connections were left alone by the child.
    assert db.get_engine(pg_url) is parent_engine
    with parent_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
