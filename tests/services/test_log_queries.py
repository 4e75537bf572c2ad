"""Stored log queries: keyset pages by (attempt, seq) both ways, level filter, whole-log search."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, RunLog
from etl_orchestrator.services import log_queries
from etl_orchestrator.services.log_queries import LogQueryError
from etl_orchestrator.services.run_queries import UnknownRunError

#: (attempt, seq, level, message)
Spec = tuple[int, int, str, str]
MakeLog = Callable[[list[Spec]], int]


@pytest.fixture
def make_log(any_db: str) -> MakeLog:
    """A run with the given stored lines; returns its id."""

    def make(specs: list[Spec]) -> int:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        with session_scope() as session:
            if session.get(Job, "a") is None:
                session.add(Job(job_id="a", name="a"))
                session.flush()
            run = Run(job_id="a", batch_id="b1")
            session.add(run)
            session.flush()
            assert run.run_id is not None
            rows = [
                {
                    "run_id": run.run_id,
                    "attempt": attempt,
                    "seq": seq,
                    "ts": start + timedelta(seconds=i),
                    "level": level,
                    "logger": "job",
                    "message": message,
                }
                for i, (attempt, seq, level, message) in enumerate(specs)
            ]
            if rows:
                session.execute(insert(RunLog), rows)
            return run.run_id

    return make


def two_attempts(n: int = 5) -> list[Spec]:
    return [(a, s, "INFO", f"a{a} line {s}") for a in (1, 2) for s in range(1, n + 1)]


def cursors(lines: list[log_queries.Line]) -> list[tuple[int, int]]:
    return [line.cursor for line in lines]


def test_pages_forward_from_a_cursor_cross_attempts_in_order(make_log: MakeLog):
    run_id = make_log(two_attempts())
    with session_scope() as session:
        first = log_queries.lines_after(session, run_id, log_queries.START, 4)
        second = log_queries.lines_after(session, run_id, first[-1].cursor, 4)
        rest = log_queries.lines_after(session, run_id, second[-1].cursor, 4)
    assert cursors(first + second + rest) == [(a, s) for a in (1, 2) for s in range(1, 6)]


def test_pages_backward_give_the_lines_just_before_oldest_first(make_log: MakeLog):
    run_id = make_log(two_attempts())
    with session_scope() as session:
        earlier = log_queries.lines_before(session, run_id, (2, 2), 3)
        last = log_queries.tail(session, run_id, 2)
        start = log_queries.lines_before(session, run_id, (1, 1), 3)
    assert cursors(earlier) == [(1, 4), (1, 5), (2, 1)]
    assert cursors(last) == [(2, 4), (2, 5)]
    assert start == []


def test_the_level_filter_keeps_the_level_and_those_above_with_their_aliases(make_log: MakeLog):
    specs = [
        (1, 1, "DEBUG", "d"),
        (1, 2, "INFO", "i"),
        (1, 3, "WARNING", "w"),
        (1, 4, "WARN", "w2"),
        (1, 5, "ERROR", "e"),
        (1, 6, "CRITICAL", "c"),
    ]
    run_id = make_log(specs)
    with session_scope() as session:
        warnings = log_queries.lines_after(session, run_id, (0, 0), 10, min_level="WARNING")
        errors = log_queries.tail(session, run_id, 10, min_level="ERROR")
        everything = log_queries.tail(session, run_id, 10, min_level="ALL")
    assert [line.message for line in warnings] == ["w", "w2", "e", "c"]
    assert [line.message for line in errors] == ["e", "c"]
    assert len(everything) == 6
    with pytest.raises(LogQueryError, match="unknown level 'LOUD'"):
        log_queries.levels_from("LOUD")


def test_search_finds_text_anywhere_in_the_log_case_insensitively_and_pages(make_log: MakeLog):
    specs = [(1, s, "INFO", f"line {s}") for s in range(1, 301)]
    specs[9] = (1, 10, "INFO", "the Needle here")
    specs[199] = (1, 200, "ERROR", "needle and NEEDLE")
    specs[249] = (1, 250, "INFO", "100% done_ok")
    run_id = make_log(specs)
    with session_scope() as session:
        page = log_queries.search(session, run_id, "needle", limit=1)
        page2 = log_queries.search(session, run_id, "needle", after=page.next_after or (0, 0))
        errors_only = log_queries.search(session, run_id, "needle", min_level="ERROR")
        literal = log_queries.search(session, run_id, "0% done_")
        wildcard = log_queries.search(session, run_id, "%")
    assert cursors(page.matches) == [(1, 10)]
    assert page.next_after == (1, 10)
    assert cursors(page2.matches) == [(1, 200)]
    assert page2.next_after is None
    assert cursors(errors_only.matches) == [(1, 200)]
    assert cursors(literal.matches) == [(1, 250)]  # % and _ are text, not wildcards
    assert cursors(wildcard.matches) == [(1, 250)]


def test_around_gives_the_line_with_its_neighbours(make_log: MakeLog):
    run_id = make_log([(1, s, "ERROR" if s % 2 else "INFO", f"l{s}") for s in range(1, 21)])
    with session_scope() as session:
        near = log_queries.around(session, run_id, (1, 10), 2, 3)
        errors = log_queries.around(session, run_id, (1, 10), 2, 2, min_level="ERROR")
        at_start = log_queries.around(session, run_id, (1, 1), 5, 1)
    assert cursors(near) == [(1, 8), (1, 9), (1, 10), (1, 11), (1, 12), (1, 13)]
    # The chosen line shows whatever its level; its neighbours follow the filter.
    assert cursors(errors) == [(1, 7), (1, 9), (1, 10), (1, 11), (1, 13)]
    assert cursors(at_start) == [(1, 1), (1, 2)]


def test_an_unknown_run_is_reported(make_log: MakeLog):
    make_log([])
    with session_scope() as session, pytest.raises(UnknownRunError):
        log_queries.run_status(session, 999_999)


def test_cursors_parse_from_seq_or_attempt_and_seq():
    assert log_queries.parse_cursor("12") == (1, 12)
    assert log_queries.parse_cursor("3:4") == (3, 4)
    for bad in ("x", "1:", "-1", "1:-2"):
        with pytest.raises(LogQueryError, match="bad log position"):
            log_queries.parse_cursor(bad)


def test_a_message_is_split_around_each_hit_keeping_its_case():
    assert log_queries.split_matches("a Needle b needle", "needle") == [
        "a ",
        "Needle",
        " b ",
        "needle",
        "",
    ]
    assert log_queries.split_matches("nothing", "needle") == ["nothing"]


def test_a_line_as_text_is_utc_iso_with_its_position():
    line = log_queries.Line(
        2, 7, datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "INFO", "g", "m"
    )
    assert line.text() == "2026-01-02T03:04:05.678Z INFO     [2:7] g: m"
