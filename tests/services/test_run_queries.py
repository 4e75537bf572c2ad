"""Read-side run queries: keyset pages of runs and log lines, one run's detail, a batch's events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, RunAttempt, RunEvent, RunLog
from etl_orchestrator.services import run_queries
from etl_orchestrator.timeutil import utcnow

MakeRun = Callable[..., int]


@pytest.fixture
def make_run(any_db: str) -> MakeRun:
    """Insert a run (jobs 'a' and 'b' exist) and return its id."""
    with session_scope() as session:
        session.add_all([Job(job_id="a", name="a"), Job(job_id="b", name="b")])

    def make(job_id: str = "a", **fields: Any) -> int:
        fields.setdefault("batch_id", "batch-1")
        with session_scope() as session:
            run = Run(job_id=job_id, **fields)
            session.add(run)
            session.flush()
            assert run.run_id is not None
            return run.run_id

    return make


def all_pages(limit: int, **filters: Any) -> list[run_queries.RunPage]:
    pages: list[run_queries.RunPage] = []
    before: int | None = None
    while True:
        with session_scope() as session:
            page = run_queries.list_runs(session, before=before, limit=limit, **filters)
        pages.append(page)
        if page.next_before is None:
            return pages
        before = page.next_before


@pytest.mark.parametrize("count", [1, 3, 6, 7])
def test_list_runs_pages_newest_first_by_run_id_and_the_last_page_has_no_cursor(
    make_run: MakeRun, count: int
) -> None:
    ids = [make_run() for _ in range(count)]
    pages = all_pages(3)
    assert [run.run_id for page in pages for run in page.runs] == sorted(ids, reverse=True)
    assert all(len(page.runs) == 3 for page in pages[:-1])
    assert pages[-1].runs  # a full last page does not lead to an empty extra one
    assert all(page.next_before == page.runs[-1].run_id for page in pages[:-1])


def test_list_runs_filters_by_job_and_status_across_pages(make_run: MakeRun) -> None:
    wanted = []
    for index in range(9):
        job_id = "a" if index % 2 else "b"
        status = "failed" if index % 3 else "succeeded"
        run_id = make_run(job_id=job_id, status=status)
        if (job_id, status) == ("a", "failed"):
            wanted.append(run_id)
    pages = all_pages(1, job_id="a", status="failed")
    assert [run.run_id for page in pages for run in page.runs] == sorted(wanted, reverse=True)
    assert all(run.job_id == "a" and run.status == "failed" for p in pages for run in p.runs)


def test_list_runs_refuses_an_unknown_status_and_a_page_size_out_of_range(
    make_run: MakeRun,
) -> None:
    with session_scope() as session:
        with pytest.raises(ValueError, match="unknown run status 'done'"):
            run_queries.list_runs(session, status="done")
        with pytest.raises(ValueError, match="use 1 to 1000"):
            run_queries.list_runs(session, limit=0)
        with pytest.raises(ValueError, match="use 1 to 1000"):
            run_queries.list_runs(session, limit=1001)


def test_run_detail_returns_attempts_and_timeline_in_order(make_run: MakeRun) -> None:
    run_id = make_run(status="succeeded", attempts=2)
    other = make_run()
    start = utcnow()
    with session_scope() as session:
        for attempt in (2, 1):
            session.add(RunAttempt(run_id=run_id, attempt=attempt, token=f"t{attempt}"))
        session.add(RunAttempt(run_id=other, attempt=1, token="x"))
        for offset, to_status in enumerate(["queued", "dispatched", "running", "succeeded"]):
            session.add(
                RunEvent(run_id=run_id, ts=start + timedelta(seconds=offset), to_status=to_status)
            )
            session.flush()
        session.add(RunEvent(run_id=other, to_status="queued"))
    with session_scope() as session:
        detail = run_queries.run_detail(session, run_id)
    assert detail.run.run_id == run_id
    assert [(a.run_id, a.attempt) for a in detail.attempts] == [(run_id, 1), (run_id, 2)]
    assert [e.to_status for e in detail.events] == ["queued", "dispatched", "running", "succeeded"]


def test_an_unknown_run_raises_unknown_run_error_naming_it(make_run: MakeRun) -> None:
    with session_scope() as session:
        with pytest.raises(run_queries.UnknownRunError, match="unknown run 404"):
            run_queries.run_detail(session, 404)
        with pytest.raises(run_queries.UnknownRunError, match="unknown run 404"):
            run_queries.get_run(session, 404)


def test_batch_runs_and_their_events_leave_out_other_batches(make_run: MakeRun) -> None:
    first = make_run(batch_id="batch-x")
    make_run(batch_id="batch-y")
    second = make_run(job_id="b", batch_id="batch-x")
    with session_scope() as session:
        for run_id in (second, first, second):
            session.add(RunEvent(run_id=run_id, to_status="queued"))
            session.flush()
    with session_scope() as session:
        runs = run_queries.batch_runs(session, "batch-x")
        timeline = run_queries.events_of(session, [first, second])
        assert run_queries.events_of(session, []) == []
    assert [run.run_id for run in runs] == [first, second]
    assert [event.run_id for event in timeline] == [second, first, second]


def test_log_page_orders_by_attempt_then_seq_and_pages_with_the_cursor(make_run: MakeRun) -> None:
    run_id = make_run()
    other = make_run()
    with session_scope() as session:
        for attempt, seq in [(2, 2), (1, 3), (2, 1), (1, 1), (1, 2), (10, 1)]:
            session.add(RunLog(run_id=run_id, attempt=attempt, seq=seq, message=f"{attempt}.{seq}"))
        session.add(RunLog(run_id=other, attempt=1, seq=1, message="other run"))
    seen: list[str] = []
    after: tuple[int, int] | None = None
    cursors: list[tuple[int, int] | None] = []
    while True:
        with session_scope() as session:
            page = run_queries.log_page(session, run_id, after=after, limit=2)
        seen.extend(line.message for line in page.lines)
        cursors.append(page.next_after)
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == ["1.1", "1.2", "1.3", "2.1", "2.2", "10.1"]
    assert cursors == [(1, 2), (2, 1), None]
    with session_scope() as session:
        second = run_queries.log_page(session, run_id, attempt=2)
        rest = run_queries.log_page(session, run_id, attempt=1, after=(1, 1))
    assert [line.message for line in second.lines] == ["2.1", "2.2"]
    assert [line.message for line in rest.lines] == ["1.2", "1.3"]
