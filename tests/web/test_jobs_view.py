"""The jobs table's URL and row text: a view survives the round trip, a forged URL is tamed."""

from __future__ import annotations

from etl_orchestrator.web.jobs_view import JobsQuery, duration_text, parse_query


def test_a_view_survives_the_url_round_trip() -> None:
    view = JobsQuery(
        sort="next_run_at",
        descending=True,
        enabled="no",
        outcome="fail",
        tag="pii & more",
        domain="sales",
        search="load orders",
        after="abc",
        size=25,
    )
    assert parse_query(view.to_query()) == (view, [])
    assert JobsQuery().url() == "/jobs"
    assert view.first_page(after="xyz").after == "xyz"
    assert view.first_page(sort="name").after == ""


def test_a_forged_url_gives_the_default_view_and_says_what_was_ignored() -> None:
    view, problems = parse_query(
        "sort=x&dir=up&enabled=maybe&outcome=meh&size=5000&after=a&before=b"
    )
    assert view == JobsQuery()
    assert len(problems) == 6
    assert any("two page cursors" in p for p in problems)


def test_durations_read_naturally() -> None:
    assert duration_text(None) == ""
    assert duration_text(2.04) == "2.0 s"
    assert duration_text(75) == "1 min 15 s"
    assert duration_text(3 * 3600 + 120) == "3 h 2 min"
