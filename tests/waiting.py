"""Polling helpers for tests that watch real processes: wait for a condition, see a pid end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import psutil

T = TypeVar("T")


# `...`, not `[]`: mypy cannot type a `lambda pid=pid: …` (a loop variable bound early) as `[]`.
def wait_until(
    predicate: Callable[..., T | None], what: str, timeout_s: float = 15.0, poll_s: float = 0.02
) -> T:
    """The predicate's first truthy value; an AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")


def is_gone(pid: int) -> bool:
    """A zombie counts as gone: it has ended, only its parent has not reaped it yet."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
