"""Reading the audit: filters, keyset pages, CSV lines and one run's entries."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, Job, Run
from etl_orchestrator.services import audit_queries, run_actions, runs
from etl_orchestrator.services.audit_queries import AuditFilter, AuditQueryError

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MakeEntry = Callable[..., int]


@pytest.fixture
def make_entry(any_db: str) -> MakeEntry:
    def make(**fields: Any) -> int:
        fields.setdefault("actor", "ann")
        fields.setdefault("action", "run.trigger")
        fields.setdefault("ts", T0)
        with session_scope() as session:
            entry = AuditEntry(**fields)
            session.add(entry)
            session.flush()
            assert entry.audit_id is not None
            return entry.audit_id

    return make


def ids(filters: AuditFilter, limit: int = 50) -> list[int]:
    found: list[int] = []
    cursor = ""
    while True:
        with session_scope() as session:
            page = audit_queries.audit_page(session, filters, cursor=cursor, limit=limit)
        found += [row.audit_id for row in page.rows]
        if not page.next_cursor:
            return found
        cursor = page.next_cursor


def test_pages_go_newest_first_with_a_keyset_cursor_and_equal_times_split_by_id(
    make_entry: MakeEntry,
) -> None:
    # Made oldest first, but the first two share a time with the next two, out of id order.
    stamps = [1, 1, 0, 0, 2, 3, 3]
    made = {make_entry(ts=T0 + timedelta(seconds=s)): s for s in stamps}
    expected = sorted(made, key=lambda audit_id: (made[audit_id], audit_id), reverse=True)
    assert ids(AuditFilter(), limit=2) == expected
    assert ids(AuditFilter(), limit=50) == expected


def test_filters_by_user_action_target_and_time(make_entry: MakeEntry) -> None:
    a = make_entry(actor="ann", action="run.cancel", target="run 4 (load)")
    b = make_entry(actor="bob", action="run.trigger", target="load", ts=T0 + timedelta(hours=2))
    c = make_entry(actor="bob", action="settings.update", target="parallel_jobs")
    assert ids(AuditFilter(actor="BOB")) == [b, c]
    assert ids(AuditFilter(action="run")) == [b, a]
    assert ids(AuditFilter(action="run.cancel")) == [a]
    assert ids(AuditFilter(target="load")) == [b, a]
    assert ids(AuditFilter(since=T0 + timedelta(hours=1))) == [b]
    assert ids(AuditFilter(until=T0 + timedelta(hours=1))) == [c, a]
    assert ids(AuditFilter(target="100%_")) == []  # wildcards are plain text


def test_parse_filter_reads_form_fields_and_explains_bad_ones() -> None:
    fields = {"actor": "ann", "since": "2026-05-01", "until": "2026-05-01"}
    parsed = audit_queries.parse_filter(fields)
    assert parsed.since == datetime(2026, 5, 1, tzinfo=UTC)
    assert parsed.until == datetime(2026, 5, 2, tzinfo=UTC)  # a bare date means the whole day
    assert audit_queries.parse_filter(dict(parse_qsl(audit_queries.filter_query(parsed)))) == parsed
    with pytest.raises(AuditQueryError, match="since must be a UTC date"):
        audit_queries.parse_filter({"since": "yesterday"})
    with pytest.raises(AuditQueryError, match="before 'until'"):
        audit_queries.parse_filter({"since": "2026-05-03", "until": "2026-05-01"})


def test_a_bad_cursor_or_page_size_is_refused_with_a_message(any_db: str) -> None:
    with session_scope() as session:
        with pytest.raises(AuditQueryError, match="no longer valid"):
            audit_queries.audit_page(session, AuditFilter(), cursor="nonsense")
        with pytest.raises(AuditQueryError, match="1 to 500"):
            audit_queries.audit_page(session, AuditFilter(), limit=0)


def test_csv_lines_quote_commas_and_defuse_formulas(make_entry: MakeEntry) -> None:
    make_entry(reason="because, well", target="=HYPERLINK(1)", params={"a": 1})
    with session_scope() as session:
        [row] = audit_queries.iter_audit(session, AuditFilter())
    text = audit_queries.csv_header() + audit_queries.csv_row(row)
    header, line = list(csv.reader(io.StringIO(text)))
    assert header == list(audit_queries.CSV_COLUMNS)
    record = dict(zip(header, line, strict=True))
    assert record["reason"] == "because, well"
    assert record["target"] == "'=HYPERLINK(1)"
    assert record["params"] == '{"a":1}'
    assert record["ts"] == "2026-05-01T12:00:00Z"


def test_iter_audit_reads_every_row_in_batches(
    make_entry: MakeEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_queries, "EXPORT_BATCH", 3)
    made = [make_entry(ts=T0 + timedelta(seconds=i)) for i in range(8)]
    with session_scope() as session:
        assert [row.audit_id for row in audit_queries.iter_audit(session, AuditFilter())] == list(
            reversed(made)
        )


def test_audit_for_run_has_its_trigger_its_actions_and_the_retry_that_made_it(
    any_db: str,
) -> None:
    with session_scope() as session:
        session.add_all([Job(job_id="load", name="load"), Job(job_id="other", name="other")])
    with session_scope() as session:
        [run_id] = runs.trigger(session, job_id="load", requested_by="ann", reason="go").run_ids
        runs.trigger(session, job_id="other", requested_by="ann", reason="unrelated")
        runs.trigger(session, job_id="load", requested_by="ann", reason="another batch")
    with session_scope() as session:
        run_actions.cancel_run(session, run_id=run_id, actor="bob", reason="stop")
    with session_scope() as session:
        retry = run_actions.retry_run(session, run_id=run_id, actor="bob", reason="again")
        retry_id = retry.run.run_id
        assert retry_id is not None
    with session_scope() as session:
        entries = audit_queries.audit_for_run(session, run_id)
        assert [(e.action, e.reason) for e in entries] == [
            ("run.trigger", "go"),
            ("run.cancel", "stop"),
            ("run.retry", "again"),
        ]
        assert all(e.run_id in (run_id, retry_id) for e in entries)
        # A retry joins its run's batch: the batch's trigger concerns it too.
        assert [e.action for e in audit_queries.audit_for_run(session, retry_id)] == [
            "run.trigger",
            "run.retry",
        ]
        assert audit_queries.audit_for_run(session, 999_999) == []
        assert session.exec(select(Run)).first() is not None
