"""A run's log in Chromium: lines written through the engine's log sink show live without
polling, the level filter, the search over the whole log, the download, text-only rendering and
accessibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import insert

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import RunLog, Setting
from etl_orchestrator.services import settings
from etl_orchestrator.states import RunStatus
from tests.web.browser.support import (
    LIVE_TIMEOUT_MS,
    Console,
    make_run,
    move,
    serious_violations,
    sign_in,
    write_through_sink,
)
from tests.web.conftest import MakeUser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The acceptance target: a line shows within a second of being written.
SHOWS_WITHIN_MS = 1000


def open_run_log(page: Page, console: Console, run_id: int) -> None:
    """Open the page that shows `run_id`'s log and wait until the log view follows it (the one
    place that knows where the log view is mounted)."""
    page.goto(f"{console.base}/runs/{run_id}")
    note = page.locator("#log-note")
    # Where /runs/<id> is the job page with the run drawer, the drawer's "Logs" opens the Logs
    # tab following this run.
    drawer_logs = page.get_by_role("button", name="Logs", exact=True)
    # A page load on a busy machine can take longer than a live update.
    expect(note.or_(drawer_logs).first).to_be_visible(timeout=3 * LIVE_TIMEOUT_MS)
    if not note.is_visible():
        drawer_logs.first.click()
    expect(note).to_be_visible(timeout=3 * LIVE_TIMEOUT_MS)


def _set_poll_s(seconds: float) -> None:
    with session_scope() as session:
        session.merge(Setting(key=settings.CONSOLE_POLL_S, value=seconds))


def _running_run() -> int:
    run_id = make_run()
    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING)
    return run_id


def store_lines(run_id: int, count: int, special: dict[int, tuple[str, str]]) -> None:
    """`count` stored lines of attempt 1; `special` sets the (level, message) of some seqs."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for seq in range(1, count + 1):
        level, message = special.get(seq, ("INFO", f"row batch {seq} loaded"))
        rows.append(
            {
                "run_id": run_id,
                "attempt": 1,
                "seq": seq,
                "ts": start + timedelta(milliseconds=seq),
                "level": level,
                "logger": "etl.job",
                "message": message,
            }
        )
    with session_scope() as session:
        session.execute(insert(RunLog), rows)


def test_lines_logged_by_a_running_job_show_within_a_second_without_polling(
    page: Page, console: Console, make_user: MakeUser
):
    _set_poll_s(0)
    run_id = _running_run()
    write_through_sink(run_id, [("INFO", "starting extract")])
    sign_in(page, console, make_user("viewer"))
    open_run_log(page, console, run_id)
    lines = page.locator("#log-view .etl-log-line")
    expect(lines.filter(has_text="starting extract")).to_have_count(1)

    for n in range(3):
        write_through_sink(run_id, [("INFO", f"live line {n}")])
        expect(lines.filter(has_text=f"live line {n}")).to_have_count(1, timeout=SHOWS_WITHIN_MS)

    # More lines than the list shows at once: it follows them to the newest.
    write_through_sink(run_id, [("INFO", f"bulk {n}") for n in range(1, 301)])
    expect(lines.filter(has_text="bulk 300")).to_have_count(1, timeout=SHOWS_WITHIN_MS)

    write_through_sink(run_id, [("WARNING", "<script>window.__logPwned = 1</script><b>x</b>")])
    shown = lines.filter(has_text="<script>window.__logPwned = 1</script><b>x</b>")
    expect(shown).to_have_count(1, timeout=SHOWS_WITHIN_MS)
    assert page.evaluate("() => window.__logPwned") is None
    assert page.locator("#log-view .etl-log-msg b").count() == 0
    # Each line once, in order, with its UTC time.
    # The lines on screen are consecutive and end with the newest.
    keys = lines.evaluate_all("els => els.map(e => e.dataset.key)")
    last = 1 + 3 + 300 + 1
    assert keys == [f"1:{seq}" for seq in range(last - len(keys) + 1, last + 1)]


def test_the_level_filter_and_the_search_reach_lines_outside_the_window(
    page: Page, console: Console, make_user: MakeUser
):
    _set_poll_s(0)
    run_id = _running_run()
    store_lines(
        run_id,
        3000,
        {
            12: ("INFO", "found the Needle in batch 12"),
            40: ("ERROR", "lookup failed for store 40"),
            2990: ("ERROR", "lookup failed for store 2990"),
            2995: ("INFO", "another needle near the end"),
        },
    )
    sign_in(page, console, make_user("viewer"))
    open_run_log(page, console, run_id)
    lines = page.locator("#log-view .etl-log-line")
    expect(lines.last).to_be_visible()
    assert lines.filter(has_text="Needle in batch 12").count() == 0  # not in the window

    page.fill("#log-query", "needle")
    page.click("#log-search button[type=submit]")
    matches = page.locator("#log-matches .etl-log-match")
    expect(matches).to_have_count(2)
    expect(matches.first).to_contain_text("Line 12")
    expect(matches.first.locator("mark")).to_have_text("Needle")
    matches.first.click()
    target = page.locator("#log-view .etl-log-line[data-key='1:12']")
    expect(target).to_be_visible()
    expect(target).to_have_attribute("data-target", "true")
    expect(target.locator("mark")).to_have_text("Needle")

    page.select_option("#log-level", "ERROR")
    expect(lines).to_have_count(2)
    assert lines.evaluate_all("els => els.map(e => e.dataset.level)") == ["ERROR", "ERROR"]
    expect(lines.first).to_contain_text("store 40")
    # A new ERROR line comes live; an INFO one is filtered out.
    write_through_sink(run_id, [("INFO", "quiet progress"), ("ERROR", "disk full at the end")])
    expect(lines.filter(has_text="disk full at the end")).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    assert lines.filter(has_text="quiet progress").count() == 0


def test_the_download_contains_every_line_in_order(
    page: Page, console: Console, make_user: MakeUser, tmp_path: Path
):
    run_id = _running_run()
    store_lines(run_id, 2500, {7: ("ERROR", "seven")})
    write_through_sink(run_id, [("INFO", "the last line")])
    sign_in(page, console, make_user("viewer"))
    open_run_log(page, console, run_id)
    with page.expect_download() as download:
        page.click("#log-download")
    path = tmp_path / "run.log"
    download.value.save_as(path)
    text = path.read_text().splitlines()
    assert len(text) == 2501
    assert [line.split("[", 1)[1].split("]", 1)[0] for line in text] == [
        f"1:{seq}" for seq in range(1, 2502)
    ]
    assert text[6].endswith("etl.job: seven")
    assert " ERROR " in text[6]
    assert text[-1].endswith("etl.job: the last line")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_log_view_has_no_serious_accessibility_violations(
    browser: Browser,
    console: Console,
    make_user: MakeUser,
    axe_script: Path,
    scheme: Literal["light", "dark"],
):
    run_id = _running_run()
    store_lines(run_id, 50, {3: ("ERROR", "bad row"), 4: ("WARNING", "slow query, needle")})
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        sign_in(page, console, make_user("viewer"))
        open_run_log(page, console, run_id)
        expect(page.locator("#log-view .etl-log-line").first).to_be_visible()
        page.fill("#log-query", "needle")
        page.click("#log-search button[type=submit]")
        expect(page.locator("#log-matches .etl-log-match")).to_have_count(1)
        assert serious_violations(page, axe_script) == []
    finally:
        context.close()
