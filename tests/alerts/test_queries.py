"""The alerts page's read model: keyset pages, failures hidden on request, delivery lines."""

from __future__ import annotations

import pytest

from etl_orchestrator.alerts import outbox, queries
from etl_orchestrator.alerts.message import NO_WORKERS, RUN_FAILED
from etl_orchestrator.db import session_scope

pytestmark = pytest.mark.usefixtures("any_db")


def seed(count: int) -> None:
    with session_scope() as session:
        for n in range(count):
            outbox.record(
                session,
                kind=RUN_FAILED if n % 2 else NO_WORKERS,
                dedup_key=f"k{n}",
                message=f"alert {n}",
                dests=["slack"],
                run_id=n if n % 2 else None,
            )


def test_pages_walk_back_from_the_newest_without_gaps_or_repeats() -> None:
    seed(7)
    seen: list[int] = []
    cursor = 0
    with session_scope() as session:
        while True:
            page = queries.alert_page(session, older_than=cursor, limit=3)
            seen += [row.alert_id for row in page.rows]
            if not page.older_than:
                break
            cursor = page.older_than
    assert seen == [7, 6, 5, 4, 3, 2, 1]


def test_failure_alerts_can_be_left_out() -> None:
    seed(4)
    with session_scope() as session:
        page = queries.alert_page(session, include_failures=False)
    assert {row.kind for row in page.rows} == {NO_WORKERS}


def test_each_destination_reads_as_a_line_with_its_state() -> None:
    seed(1)
    with session_scope() as session:
        [claim] = outbox.claim_due(session, claim_s=30)
    with session_scope() as session:
        outbox.record_outcome(session, claim, "HTTP 500: down", outbox.RetryPolicy())
        [row] = queries.alert_page(session).rows
    assert row.deliveries[0].startswith("Slack: pending, attempt 1 (HTTP 500: down), next try ")
    assert row.ongoing is False


def test_open_systemic_alerts_are_listed_for_the_banner() -> None:
    with session_scope() as session:
        outbox.record(
            session, kind=NO_WORKERS, dedup_key=NO_WORKERS + outbox.OPEN_SUFFIX,
            message="No worker since 12:00.", dests=[],
        )  # fmt: skip
        assert queries.open_systemic(session) == ["No live workers: No worker since 12:00."]
        outbox.resolve_open(session, NO_WORKERS, "Resolved.")
        assert queries.open_systemic(session) == []


def test_a_destination_that_keeps_refusing_shows_in_the_banner_until_it_accepts() -> None:
    seed(2)  # alert 2 is a failed run's; both go to Slack
    policy = outbox.RetryPolicy(base_s=1e-6, max_s=1e-6)
    for _attempt in range(queries.FAILING_DELIVERY_ATTEMPTS):
        with session_scope() as session:
            claims = outbox.claim_due(session, claim_s=0)
        with session_scope() as session:
            for claim in claims:
                outbox.record_outcome(session, claim, "HTTP 500: down", policy)
    with session_scope() as session:
        assert queries.open_systemic(session) == [
            "Alert delivery to Slack is failing (HTTP 500: down): 2 alert(s) waiting, retried "
            "with backoff. Check the destination."
        ]
        claims = outbox.claim_due(session, claim_s=0)
    with session_scope() as session:
        for claim in claims:
            outbox.record_outcome(session, claim, None, policy)
        assert queries.open_systemic(session) == []
