"""Bad input never crashes a service or writes half a change: fuzzed parameters and searches."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs import JobSpec
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import AuditEntry, Job, Run
from etl_orchestrator.services import job_queries, runs
from etl_orchestrator.timeutil import utcnow

PIPELINE = "etl_orchestrator.examples.pipeline"
#: Strings an attacker or a tired operator types: markup, SQL, wildcards, control characters.
NASTY = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "'; DROP TABLE dw_etl_jobs; --",
        "%",
        "_",
        "\\",
        "\\%",
        "' OR '1'='1",
        "\x00",
        "😀",
        "Ω≈ç√",
        "a" * 10_000,
        "",
    ]
)
TEXT = st.one_of(NASTY, st.text(max_size=40))
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
FUZZ = settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def demo() -> dict[str, JobSpec]:
    specs = load_jobs([PIPELINE])
    with session_scope() as session:
        sync_jobs(session, specs, now=utcnow())
    return specs


def _written() -> tuple[int, int]:
    with session_scope() as session:
        return (
            session.exec(select(func.count()).select_from(Run)).one(),
            session.exec(select(func.count()).select_from(AuditEntry)).one(),
        )


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["start", "end", "full_refresh"]) | TEXT, JSON_VALUE))
def test_fuzzed_parameters_are_refused_with_a_message_and_write_nothing(
    demo: dict[str, JobSpec], params: dict[str, Any]
) -> None:
    before = _written()
    refusal = ""
    try:
        with session_scope() as session:
            runs.trigger(
                session, job_id="backfill_sales", params=params, requested_by="fuzz", reason="fuzz"
            )
    except runs.TriggerError as error:
        refusal = str(error)
    if refusal:
        assert refusal.startswith("invalid params for job 'backfill_sales'"), refusal
        assert _written() == before
    else:
        # Only a valid range gets through; then exactly one run and its audit row were written.
        demo["backfill_sales"].params.model_validate(params)  # type: ignore[union-attr]
        runs_after, audit_after = _written()
        assert (runs_after - before[0], audit_after - before[1]) == (1, 1)


@FUZZ
@given(job_id=TEXT)
def test_an_unknown_or_hostile_job_id_is_refused_by_name(
    demo: dict[str, JobSpec], job_id: str
) -> None:
    if job_id in demo:
        return
    before = _written()
    with pytest.raises(runs.TriggerError, match=r"unknown job|NUL"), session_scope() as session:
        runs.trigger(session, job_id=job_id, requested_by="fuzz", reason="fuzz")
    assert _written() == before


@FUZZ
@given(search=TEXT)
def test_search_treats_wildcards_and_sql_as_plain_text(
    demo: dict[str, JobSpec], search: str
) -> None:
    with session_scope() as session:
        page = job_queries.list_jobs(session, search=search, limit=200)
        every_id = list(session.exec(select(Job.job_id)))
    found = {row.job_id for row in page.jobs}
    # Every hit really contains the text (no wildcard or injection widened the match), and
    # every job whose id contains it verbatim is found.
    assert all(search.lower() in (row.job_id + " " + row.name).lower() for row in page.jobs)
    assert {job_id for job_id in every_id if search in job_id} <= found


@FUZZ
@given(cursor=TEXT)
def test_a_forged_cursor_is_refused_with_a_clear_error(
    demo: dict[str, JobSpec], cursor: str
) -> None:
    refusal = ""
    with session_scope() as session:
        try:
            job_queries.list_jobs(session, after=cursor)
        except ValueError as error:
            refusal = str(error)
    assert refusal == "" or refusal.startswith("invalid page cursor"), refusal


def test_params_are_stored_as_given_never_interpreted(demo: dict[str, JobSpec]) -> None:
    hostile = {"start": "2024-01-01", "end": "2024-01-02", "full_refresh": False}
    with session_scope() as session:
        [run_id] = runs.trigger(
            session,
            job_id="backfill_sales",
            params=hostile,
            requested_by="<script>alert(1)</script>",
            reason="'; DROP TABLE dw_etl_runs; --",
        ).run_ids
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        assert (run.requested_by, run.reason) == (
            "<script>alert(1)</script>",
            "'; DROP TABLE dw_etl_runs; --",
        )
        assert json.loads(json.dumps(run.params)) == hostile
