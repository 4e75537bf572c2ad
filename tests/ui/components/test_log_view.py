"""The log view's handlers without a browser: the session check, the bounded window, loading
earlier lines, the level filter, the search and jumping to a match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlalchemy import insert

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, RunLog
from etl_orchestrator.services.log_queries import Line
from etl_orchestrator.services.users import add_user
from etl_orchestrator.ui.components import log_view
from etl_orchestrator.ui.components.log_view import LogViewState
from etl_orchestrator.web import sessions


async def view(cookie: str = "") -> LogViewState:
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex passes
    root.router = RouterData.from_router_data({"headers": {"cookie": cookie}, "pathname": "/"})
    state = await root.get_state(LogViewState)
    assert isinstance(state, LogViewState)
    return state


async def signed_in_view() -> LogViewState:
    with session_scope() as session:
        add_user(session, username="viewer", password="secret-of-viewer", role="viewer")
        token = sessions.create_session(session, username="viewer")
    return await view(f"{sessions.COOKIE_NAME}={token}")


def run_with_lines(count: int, levels: dict[int, str] | None = None, text: str = "line") -> int:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope() as session:
        session.add(Job(job_id="a", name="a"))
        session.flush()
        run = Run(job_id="a", batch_id="b")
        session.add(run)
        session.flush()
        assert run.run_id is not None
        session.execute(
            insert(RunLog),
            [
                {
                    "run_id": run.run_id,
                    "attempt": 1,
                    "seq": seq,
                    "ts": start + timedelta(milliseconds=seq),
                    "level": (levels or {}).get(seq, "INFO"),
                    "logger": "job",
                    "message": f"{text} {seq}",
                }
                for seq in range(1, count + 1)
            ],
        )
        return run.run_id


def keys(state: LogViewState) -> list[str]:
    """The lines of the window (the page holds the same: tested in test_live_lines_...)."""
    return [str(row["k"]) for row in state._window]


async def test_a_client_without_a_session_gets_no_log():
    run_id = run_with_lines(3)
    state = await view()
    assert await state.follow(run_id) is None
    assert state.run_id == 0
    assert state._window == []
    assert "sign in again" in state.error


async def test_following_shows_the_tail_and_starts_the_live_task(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(log_view, "PAGE", 10)
    run_id = run_with_lines(25)
    state = await signed_in_view()
    event = await state.follow(run_id)
    assert event is not None
    assert keys(state) == [f"1:{seq}" for seq in range(16, 26)]
    assert state.has_earlier
    assert state.tailing
    assert state._cursor == (1, 25)
    assert state.snapshot["rows"][0]["t"] == "2026-01-01T00:00:00.016Z"


async def test_an_unknown_run_says_so():
    state = await signed_in_view()
    await state.follow(999_999)
    assert state.error == "There is no run 999999: it never existed, or retention removed it."
    assert state.run_id == 0


async def test_live_lines_keep_the_window_bounded(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(log_view, "TAIL_WINDOW", 8)
    monkeypatch.setattr(log_view, "PAGE", 5)
    run_id = run_with_lines(5)
    state = await signed_in_view()
    await state.follow(run_id)
    at = datetime(2026, 1, 2, tzinfo=UTC)
    live = [Line(1, seq, at, "INFO", "job", f"live {seq}") for seq in range(4, 12)]
    opened = state.snapshot["seq"]
    state._take(live)  # 4 and 5 are already shown: they are skipped
    assert keys(state) == [f"1:{seq}" for seq in range(4, 12)]
    assert state._first == log_view.BASE_INDEX + 3
    # Only the new lines go to the page, numbered after the window it holds.
    assert state.snapshot["seq"] == opened
    assert [row["k"] for row in state.batch["rows"]] == [f"1:{seq}" for seq in range(6, 12)]
    assert state.batch["seq"] == opened + 1
    assert (state.batch["first"], state.batch["count"]) == (log_view.BASE_INDEX + 3, 8)
    assert not state.batch["reset"]
    # A page that missed a batch gets the whole window again.
    state.resync()
    assert state.snapshot["rows"] == state._window
    assert state.snapshot["seq"] == state.batch["seq"] + 1
    state.tailing = False
    state._take([Line(1, 12, at, "INFO", "job", "while frozen")])
    assert state.pending == 1
    assert keys(state)[-1] == "1:11"


async def test_loading_earlier_prepends_and_stops_tailing_past_the_window(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(log_view, "WINDOW", 12)
    monkeypatch.setattr(log_view, "TAIL_WINDOW", 12)
    monkeypatch.setattr(log_view, "PAGE", 5)
    run_id = run_with_lines(20)
    state = await signed_in_view()
    await state.follow(run_id)
    await state.load_earlier()
    assert keys(state) == [f"1:{seq}" for seq in range(11, 21)]
    assert state._first == log_view.BASE_INDEX - 5
    assert state.tailing
    await state.load_earlier()
    assert keys(state) == [f"1:{seq}" for seq in range(6, 18)]
    assert not state.tailing


async def test_the_level_filter_reloads_the_window_and_rejects_unknown_levels():
    run_id = run_with_lines(30, {3: "ERROR", 17: "CRITICAL", 20: "WARNING"})
    state = await signed_in_view()
    await state.follow(run_id)
    await state.set_level("ERROR")
    assert keys(state) == ["1:3", "1:17"]
    await state.set_level("<script>")
    assert "Unknown level" in state.error
    assert state.level == "ERROR"


async def test_search_highlights_and_a_match_opens_the_log_around_it(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(log_view, "PAGE", 5)
    monkeypatch.setattr(log_view, "AROUND", 2)
    run_id = run_with_lines(40, text="Row")
    state = await signed_in_view()
    await state.follow(run_id)
    await state.search({"query": "row 7"})
    assert [row["k"] for row in state.matches] == ["1:7"]
    assert state.matches[0]["p"] == ["", "Row 7", ""]
    await state.jump("1:7")
    assert keys(state) == ["1:5", "1:6", "1:7", "1:8", "1:9"]
    assert state.start_at == 2
    assert state.target == "1:7"
    assert not state.tailing
    await state.toggle_tail()  # back to the live tail
    assert keys(state)[-1] == "1:40"
    assert state.tailing
    await state.jump("nonsense")
    assert "bad log position" in state.error


async def test_when_pushes_stop_the_poll_reads_new_lines_from_the_database():
    from etl_orchestrator.ui.state import LiveControl

    run_id = run_with_lines(3)
    state = await signed_in_view()
    await state.follow(run_id)
    control = await state.get_state(LiveControl)
    with session_scope() as session:
        session.execute(
            insert(RunLog),
            [{"run_id": run_id, "attempt": 2, "seq": 1, "level": "INFO", "message": "retry"}],
        )
    control.poll_ms = 0
    await state.poll()
    assert keys(state) == ["1:1", "1:2", "1:3"]  # polling switched off: pushes alone deliver
    control.poll_ms = 5000
    await state.poll()
    assert keys(state) == ["1:1", "1:2", "1:3"]  # pushes are recent: no need to poll
    state._last_push -= 6.0
    await state.poll()
    assert keys(state) == ["1:1", "1:2", "1:3", "2:1"]
    assert state._window[-1]["n"] == "2:1"
