"""Keyset pages of the jobs table: every sort both ways, filters, search and bad cursors."""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, JobDependency, Run, RunAttempt
from etl_orchestrator.services import job_queries
from etl_orchestrator.services.job_queries import JobRow
from etl_orchestrator.timeutil import utcnow

SORTS = list(job_queries.SORTS)


@pytest.fixture
def jobs(any_db: str) -> list[Job]:
    """40 jobs with many ties and NULLs in every nullable sort key."""
    rng = random.Random(7)
    now = utcnow().replace(microsecond=0)
    made: list[Job] = []
    for index in range(40):
        made.append(
            Job(
                job_id=f"job_{index:03d}",
                name=rng.choice(["alpha", "beta", "Gamma", "delta"]) + f" {index % 5}",
                enabled=index % 4 != 0,
                next_run_at=None if index % 3 == 0 else now + timedelta(hours=index % 7),
                last_run_status=rng.choice([None, "succeeded", "failed", "upstream_failed"]),
                last_run_duration_s=None if index % 5 == 0 else float(index % 6) + 0.25,
                priority=rng.choice([0, 1, 5, -1]),
                tags=rng.sample(["a", "b", "c"], rng.randint(0, 3)),
                domain=rng.choice(["sales", "finance"]),
                params_schema={"properties": {"day": {}}} if index % 2 else None,
            )
        )
    with session_scope() as session:
        session.add_all(made)
        session.flush()
        session.add_all(
            [
                JobDependency(job_id="job_010", upstream_job_id="job_001"),
                JobDependency(job_id="job_010", upstream_job_id="job_002"),
                JobDependency(job_id="job_011", upstream_job_id="job_001"),
            ]
        )
    return made


def walk(limit: int, **options: Any) -> list[JobRow]:
    rows: list[JobRow] = []
    after: str | None = None
    while True:
        with session_scope() as session:
            page = job_queries.list_jobs(session, after=after, limit=limit, **options)
        assert len(page.jobs) <= limit
        rows.extend(page.jobs)
        if page.next_cursor is None:
            return rows
        assert len(page.jobs) == limit
        after = page.next_cursor


def expected_order(jobs: list[Job], sort: str, descending: bool) -> list[str]:
    present = [j for j in jobs if getattr(j, sort) is not None]
    missing = [j for j in jobs if getattr(j, sort) is None]
    present.sort(key=lambda j: (getattr(j, sort), j.job_id), reverse=descending)
    missing.sort(key=lambda j: j.job_id, reverse=descending)
    return [j.job_id for j in present + missing]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 7, 40, 100])
def test_every_sort_walks_all_pages_in_order_with_nulls_last(
    jobs: list[Job], sort: str, descending: bool, limit: int
) -> None:
    rows = walk(limit, sort=sort, descending=descending)
    assert [row.job_id for row in rows] == expected_order(jobs, sort, descending)


def test_rows_carry_the_table_columns(jobs: list[Job]) -> None:
    rows = {row.job_id: row for row in walk(50)}
    assert rows["job_010"].dependencies == 2
    assert rows["job_011"].dependencies == 1
    assert rows["job_001"].dependencies == 0
    assert rows["job_001"].parameterized is True
    assert rows["job_002"].parameterized is False
    source = {job.job_id: job for job in jobs}
    for job_id, row in rows.items():
        job = source[job_id]
        assert (row.name, row.enabled, row.priority, row.domain) == (
            job.name,
            job.enabled,
            job.priority,
            job.domain,
        )
        assert sorted(row.tags) == sorted(job.tags)
        assert row.last_run_status == job.last_run_status


def test_filters(jobs: list[Job]) -> None:
    def ids(**options: Any) -> set[str]:
        return {row.job_id for row in walk(6, sort="priority", **options)}

    assert ids(enabled=False) == {j.job_id for j in jobs if not j.enabled}
    assert ids(last_outcome="success") == {
        j.job_id for j in jobs if j.last_run_status == "succeeded"
    }
    assert ids(last_outcome="fail") == {
        j.job_id for j in jobs if j.last_run_status in ("failed", "upstream_failed")
    }
    assert ids(domain="sales") == {j.job_id for j in jobs if j.domain == "sales"}
    assert ids(tags=["a"]) == {j.job_id for j in jobs if "a" in j.tags}
    assert ids(tags=["a", "c"]) == {j.job_id for j in jobs if {"a", "c"} <= set(j.tags)}
    assert ids(tags=["a"], enabled=True, domain="finance") == {
        j.job_id for j in jobs if "a" in j.tags and j.enabled and j.domain == "finance"
    }
    assert ids(search="GAMMA") == {j.job_id for j in jobs if "gamma" in j.name.lower()}
    assert ids(search="job_01") == {f"job_01{i}" for i in range(10)}


def test_search_escapes_like_wildcards(any_db: str) -> None:
    with session_scope() as session:
        session.add_all(
            [
                Job(job_id="pct", name="100% done"),
                Job(job_id="pct_no", name="100 x done"),
                Job(job_id="under_score", name="plain"),
                Job(job_id="underXscore", name="plain"),
                Job(job_id="back", name="a\\b"),
            ]
        )

    def ids(text: str) -> set[str]:
        with session_scope() as session:
            return {row.job_id for row in job_queries.list_jobs(session, search=text).jobs}

    assert ids("0%") == {"pct"}
    assert ids("r_s") == {"under_score"}
    assert ids("_") == {"pct_no", "under_score"}
    assert ids("a\\b") == {"back"}
    assert ids("%") == {"pct"}


def test_bad_cursors_raise_a_clear_value_error(jobs: list[Job]) -> None:
    with session_scope() as session:
        page = job_queries.list_jobs(session, sort="name", limit=5)
        assert page.next_cursor is not None
        payload = json.loads(base64.urlsafe_b64decode(page.next_cursor + "=="))
        bad = [
            "not a cursor!",
            base64.urlsafe_b64encode(b"[1, 2]").decode(),
            base64.urlsafe_b64encode(json.dumps({**payload, "k": 3}).encode()).decode(),
            base64.urlsafe_b64encode(json.dumps({**payload, "n": True}).encode()).decode(),
            base64.urlsafe_b64encode(
                json.dumps({**payload, "n": True, "k": None}).encode()
            ).decode(),
        ]
        for cursor in bad:
            with pytest.raises(ValueError, match="invalid page cursor"):
                job_queries.list_jobs(session, sort="name", after=cursor)
        with pytest.raises(ValueError, match="another sort order"):
            job_queries.list_jobs(session, sort="priority", after=page.next_cursor)
        with pytest.raises(ValueError, match="another sort order"):
            job_queries.list_jobs(session, sort="name", descending=True, after=page.next_cursor)
        with pytest.raises(ValueError, match="unknown sort"):
            job_queries.list_jobs(session, sort="nope")
        with pytest.raises(ValueError, match="unknown last outcome"):
            job_queries.list_jobs(session, last_outcome="maybe")
        with pytest.raises(ValueError, match="page size"):
            job_queries.list_jobs(session, limit=0)


def walk_back(limit: int, **options: Any) -> list[list[str]]:
    """Pages forwards to the end, then back with prev_cursor: the pages seen going back."""
    forward: list[list[str]] = []
    after: str | None = None
    last = None
    while True:
        with session_scope() as session:
            page = job_queries.list_jobs(session, after=after, limit=limit, **options)
        forward.append([row.job_id for row in page.jobs])
        last = page
        if page.next_cursor is None:
            break
        after = page.next_cursor
    backward = [forward[-1]]
    while last.prev_cursor is not None:
        with session_scope() as session:
            last = job_queries.list_jobs(session, before=last.prev_cursor, limit=limit, **options)
        backward.append([row.job_id for row in last.jobs])
    assert backward[-1] == forward[0]  # back on the first page, which has no previous one
    return backward


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 7, 13])
def test_paging_backwards_shows_the_same_rows_in_the_same_order(
    jobs: list[Job], sort: str, descending: bool, limit: int
) -> None:
    order = expected_order(jobs, sort, descending)
    pages = walk_back(limit, sort=sort, descending=descending)
    # Each page going back ends where the next one began; the first page is full.
    for page in pages:
        assert page == order[order.index(page[0]) : order.index(page[0]) + len(page)]
    starts = [order.index(page[0]) for page in pages]
    assert starts == sorted(starts, reverse=True)
    for earlier, later in zip(pages[1:], pages, strict=False):
        assert order.index(earlier[-1]) + 1 == order.index(later[0]) or len(earlier) == limit
    assert pages[-1] == order[:limit]


def test_paging_backwards_keeps_the_filters(jobs: list[Job]) -> None:
    options: dict[str, Any] = {"sort": "next_run_at", "enabled": True, "search": "a"}
    wanted = [
        j
        for j in expected_order(jobs, "next_run_at", False)
        if j in {r.job_id for r in walk(50, **options)}
    ]
    pages = walk_back(4, **options)
    seen = [job_id for page in reversed(pages) for job_id in page]
    assert set(seen) == set(wanted)
    assert pages[-1] == wanted[:4]


def test_a_cursor_for_one_direction_only(jobs: list[Job]) -> None:
    with session_scope() as session:
        page = job_queries.list_jobs(session, limit=5)
        assert page.prev_cursor is None
        assert page.next_cursor is not None
        with pytest.raises(ValueError, match="one direction only"):
            job_queries.list_jobs(session, after=page.next_cursor, before=page.next_cursor)


def test_activity_counts_transient_attempts_of_real_runs_in_24_h_and_sees_backoff(
    any_db: str,
) -> None:
    now = utcnow()
    with session_scope() as session:
        session.add_all([Job(job_id="flaky", name="flaky"), Job(job_id="calm", name="calm")])
        session.flush()

        def run(status: str, *, dry: bool = False, next_at: Any = None, job: str = "flaky") -> int:
            made = Run(
                job_id=job, batch_id="b", status=status, dry_run=dry, next_attempt_at=next_at
            )
            session.add(made)
            session.flush()
            assert made.run_id is not None
            return made.run_id

        def attempt(run_id: int, number: int, error_class: str | None, age_h: float) -> None:
            at = now - timedelta(hours=age_h)
            session.add(
                RunAttempt(
                    run_id=run_id,
                    attempt=number,
                    token=f"t{run_id}-{number}",
                    started_at=at,
                    ended_at=at,
                    error_class=error_class,
                )
            )

        done = run("succeeded")
        attempt(done, 1, "transient", 2)
        attempt(done, 2, None, 1)
        backing_off = run("retrying", next_at=now + timedelta(minutes=1))
        attempt(backing_off, 1, "transient", 0.5)
        failed = run("failed")
        attempt(failed, 1, "permanent", 3)
        old = run("failed")
        attempt(old, 1, "transient", 30)  # outside the window
        dry = run("failed", dry=True)
        attempt(dry, 1, "transient", 1)  # dry runs do not count
        run("running", job="calm")
        session.add(Job(job_id="idle", name="idle", last_run_status="succeeded"))
    with session_scope() as session:
        found = job_queries.activity(session, ["flaky", "calm", "idle", "missing"])
    assert set(found) == {"flaky", "calm", "idle"}
    flaky = found["flaky"]
    assert (flaky.transient_attempts, flaky.attempts) == (2, 4)
    assert flaky.transient_rate == 0.5
    assert flaky.backoff is True
    assert flaky.active_status == "retrying"
    assert found["calm"].active_status == "running"
    assert found["calm"].backoff is False
    assert found["calm"].transient_rate is None
    assert found["idle"].last_run_status == "succeeded"
    assert found["idle"].active_status is None
    # The table's page read gets the same activity in the same statement as its rows.
    with session_scope() as session:
        page = job_queries.list_jobs(session, with_activity=True)
    assert page.activity == found


def test_a_page_read_with_activity_has_it_for_its_rows_either_way(jobs: list[Job]) -> None:
    with session_scope() as session:
        first = job_queries.list_jobs(session, sort="name", limit=7, with_activity=True)
        second = job_queries.list_jobs(
            session, sort="name", limit=7, after=first.next_cursor, with_activity=True
        )
        back = job_queries.list_jobs(
            session, sort="name", limit=7, before=second.prev_cursor, with_activity=True
        )
        plain = job_queries.list_jobs(session, sort="name", limit=7)
    for page in (first, second, back):
        assert list(page.activity) == [row.job_id for row in page.jobs]
    assert back.jobs == first.jobs
    assert back.activity == first.activity
    assert plain.activity == {}


def _plan(session: Any, query: Any) -> str:
    """PostgreSQL's plan for a statement or an SQL string."""
    if isinstance(query, str):
        query = text(query)
    # Rendered with its values (the planner must see the pattern), as the driver would send it.
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    rows = session.connection().exec_driver_sql(f"EXPLAIN {sql}", {})
    return "\n".join(row[0] for row in rows)


def test_job_lookups_use_the_primary_key_and_only_the_search_uses_the_trigram_index() -> None:
    """A trigram index on the bare columns also served `job_id = x`, and the planner chose it
    over the primary key: 3.6 ms a lookup at 4,000 jobs, on the worker's claim of every run."""
    with session_scope() as session:
        session.execute(
            insert(Job),
            [
                {"job_id": f"fan_{i}", "name": f"load {uuid.uuid5(uuid.NAMESPACE_DNS, str(i))}"}
                for i in range(3000)
            ],
        )
        session.execute(text("ANALYZE dw_etl_jobs"))
        # At this size a scan is cheapest; what is asked is which index serves each query.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        lookup = _plan(session, "SELECT timeout_s FROM dw_etl_jobs WHERE job_id = 'fan_17'")
        many = _plan(session, "SELECT * FROM dw_etl_jobs WHERE job_id IN ('fan_1', 'fan_2')")
        query = job_queries.filtered_query(
            session,
            enabled=None,
            last_outcome=None,
            tags=[],
            domain=None,
            search=str(uuid.uuid5(uuid.NAMESPACE_DNS, "17"))[:13],
        )
        search = _plan(session, query)
    for plan in (lookup, many):
        assert "dw_etl_jobs_pkey" in plan
        assert "trgm" not in plan
    assert "ix_dw_etl_jobs_search_lower_trgm" in search
