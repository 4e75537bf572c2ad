"""Which errors are worth retrying: the classification every attempt's outcome relies on."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from etl_orchestrator.jobs.errors import JobTimeout, PermanentError, TransientError, classify


class HTTPError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


@pytest.mark.parametrize(
    "error",
    [
        TransientError("source busy"),
        JobTimeout("too slow"),
        TimeoutError(),
        ConnectionResetError(),
        HTTPError(429),
        HTTPError(503),
        OperationalError("SELECT 1", {}, psycopg.OperationalError("server closed the connection")),
        OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
    ],
)
def test_errors_a_later_attempt_may_not_meet_are_transient(error):
    assert classify(error) == "transient"


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("bad input"),
        ValueError("bad value"),
        KeyError("missing"),
        HTTPError(404),
        ProgrammingError("SELECT * FROM nope", {}, psycopg.errors.UndefinedTable("nope")),
        OperationalError("SELECT * FROM nope", {}, sqlite3.OperationalError("no such table: nope")),
        OperationalError("SELEC 1", {}, sqlite3.OperationalError('near "SELEC": syntax error')),
    ],
)
def test_mistakes_and_bad_input_are_permanent(error):
    assert classify(error) == "permanent"


def test_a_job_may_override_the_class_and_fall_back_to_the_rules():
    def override(error: BaseException):
        return "transient" if isinstance(error, KeyError) else None

    assert classify(KeyError("late file"), override) == "transient"
    assert classify(ValueError("bad"), override) == "permanent"
    assert classify(PermanentError("still"), lambda e: None) == "permanent"
