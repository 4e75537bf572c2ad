"""Errors a job raises to say whether trying again can help, and how other errors are classed."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Literal

ErrorClass = Literal["transient", "permanent"]


class JobError(Exception):
    """Base of the errors a job raises on purpose."""


class TransientError(JobError):
    """Trying again later may succeed (a flaky source, a lock, a rate limit)."""


class PermanentError(JobError):
    """Trying again cannot help (bad input, a broken contract): fail at once."""


class JobTimeout(TransientError):
    """The attempt ran past the job's timeout and was killed."""


class CancelledByUser(JobError):
    """The run was cancelled while this attempt ran."""


class DeclarationError(ValueError):
    """A job declaration is invalid; the message says which job and what to change."""


_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    TransientError,
    TimeoutError,
    ConnectionError,
    socket.timeout,
)


_SQLITE_MISTAKES = re.compile(r"no such (table|column|function)|syntax error|has no column named")


def _http_status(error: BaseException) -> int | None:
    for attr in ("status_code", "status", "code"):
        value = getattr(error, attr, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    response = getattr(error, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _is_sqlalchemy_transient(error: BaseException) -> bool:
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return False
    if isinstance(error, OperationalError):
        # SQLite reports mistakes in the SQL itself as OperationalError too: retrying cannot help.
        return not _SQLITE_MISTAKES.search(str(error.orig))
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def classify(
    error: BaseException,
    override: Callable[[BaseException], ErrorClass | None] | None = None,
) -> ErrorClass:
    """Transient: TransientError, timeouts, connection errors, HTTP 429/5xx. Else permanent."""
    if override is not None:
        decided = override(error)
        if decided is not None:
            return decided
    if isinstance(error, PermanentError):
        return "permanent"
    if isinstance(error, _TRANSIENT_TYPES) or _is_sqlalchemy_transient(error):
        return "transient"
    status = _http_status(error)
    if status is not None and (status == 429 or status >= 500):
        return "transient"
    return "permanent"
