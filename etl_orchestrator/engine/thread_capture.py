"""Captures a cooperative attempt's log records and print() output by the thread that runs it.

A forked attempt owns its process, so it can swap the root logger and stdout for its own. A
cooperative attempt shares the worker with other attempts and the worker itself, so one
handler and one stream wrapper, installed once, route each thread's output to its attempt.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

Send = Callable[[dict[str, Any]], None]
Output = Callable[[str, str], None]

_log_routes: dict[int, Send] = {}
_output_routes: dict[int, Output] = {}
_install_lock = threading.Lock()


def log_message(record: logging.LogRecord) -> dict[str, Any]:
    """A log record as the message an attempt sends its worker (forked or cooperative)."""
    message = record.getMessage()
    if record.exc_info:
        message += "\n" + "".join(traceback.format_exception(*record.exc_info))
    return {
        "t": "log",
        "ts": record.created,
        "level": record.levelname,
        "logger": record.name,
        "msg": message,
    }


class _RoutingHandler(logging.Handler):
    """Sends a record logged on an attempt's thread to that attempt."""

    def emit(self, record: logging.LogRecord) -> None:
        send = _log_routes.get(threading.get_ident())
        if send is None:
            return
        try:
            send(log_message(record))
        except Exception:
            self.handleError(record)


def _not_routed(_record: logging.LogRecord) -> bool:
    """Keeps an attempt's records out of the worker's own log: they are in the run's log."""
    return threading.get_ident() not in _log_routes


class _RoutingStream(io.TextIOBase):
    """stdout/stderr: an attempt thread's writes become its output lines, others pass through."""

    def __init__(self, name: str, inner: TextIO) -> None:
        self.name_ = name
        self.inner = inner
        self.partial: dict[int, str] = {}

    def write(self, text: str) -> int:
        thread = threading.get_ident()
        route = _output_routes.get(thread)
        if route is None:
            return self.inner.write(text)
        *lines, rest = (self.partial.pop(thread, "") + text).split("\n")
        for line in lines:
            route(self.name_, line)
        if rest:
            self.partial[thread] = rest
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def end(self, thread: int, route: Output) -> None:
        rest = self.partial.pop(thread, "")
        if rest:
            route(self.name_, rest)


_streams: list[_RoutingStream] = []
_handler = _RoutingHandler(logging.DEBUG)


def install() -> None:
    """Route from now on: one handler on the root logger, and stdout/stderr wrapped.

    Checked on every attempt, as something else (a test runner, a logging reconfiguration)
    may have replaced the streams or the root handlers since.
    """
    with _install_lock:
        root = logging.getLogger()
        if _handler not in root.handlers:
            for handler in root.handlers:
                handler.addFilter(_not_routed)
            root.addHandler(_handler)
        if not isinstance(sys.stdout, _RoutingStream):
            sys.stdout = _RoutingStream("stdout", sys.stdout)
        if not isinstance(sys.stderr, _RoutingStream):
            sys.stderr = _RoutingStream("stderr", sys.stderr)
        _streams[:] = [sys.stdout, sys.stderr]


@contextmanager
def captured(send: Send, output: Output) -> Iterator[None]:
    """While the block runs, this thread's log records go to `send` and its prints to `output`."""
    install()
    thread = threading.get_ident()
    _log_routes[thread] = send
    _output_routes[thread] = output
    try:
        yield
    finally:
        _log_routes.pop(thread, None)
        _output_routes.pop(thread, None)
        for stream in _streams:
            stream.end(thread, output)
