"""One run's log, streaming while the run executes.

Pages mount `log_view()` where the log goes and send `LogViewState.follow(run_id)` to show a run.

Reflex resends a whole list var on every change, so the page holds a bounded window of lines
(TAIL_WINDOW while following live, WINDOW reading back), kept on the server too, and a
per-client background task pushes only the new lines (at most every PUSH_EVERY_S) in a small
`batch` var that assets/log_list.jsx appends to the list's own copy; the whole window (`snapshot`)
is sent only when it is replaced. Older lines come from the database on demand ("load
earlier"), and the search runs in the database over the whole log. Lines are rendered as text by
a virtualised list (react-virtuoso), never as HTML.
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import asyncio
import time
from typing import Any

import reflex as rx
from reflex.event import no_args_event_spec, passthrough_event_spec
from reflex.vars.function import ArgsFunctionOperation

from etl_orchestrator.db import session_scope
from etl_orchestrator.redis_conn import async_client
from etl_orchestrator.services import log_queries
from etl_orchestrator.services.log_follow import LogFollower
from etl_orchestrator.services.log_queries import START, Cursor, Line, LogQueryError
from etl_orchestrator.services.run_queries import UnknownRunError
from etl_orchestrator.ui.components.poller import poller
from etl_orchestrator.ui.state import LiveControl, signed_in

#: Lines the page holds at most (reading back through the log).
WINDOW = 5000
#: Lines the page holds while following live (the server's copy is saved with the state on every
#: push). Loading earlier lines past this freezes the tail.
TAIL_WINDOW = 2000
#: Lines shown when a log opens or returns to the tail, and read per "load earlier".
PAGE = 1000
#: Lines shown either side of a search match jumped to.
AROUND = 250
#: Live lines are pushed at most this often (a push carries only its new lines, but costs a state
#: write). The engine writes a run's lines every 0.1 s, so each of its batches is pushed as soon
#: as it comes.
PUSH_EVERY_S = 0.1
#: How long one stream read waits for lines before the task checks the run and its page.
BLOCK_MS = 2000
#: A task that has not looked in for this long is gone (tab reconnected, server restarted).
TASK_STALE_S = 10.0
MATCH_PAGE = 100
#: Virtuoso's index of the window's first line: it goes down as earlier lines are prepended.
BASE_INDEX = 1_000_000_000
LEVEL_CHOICES = ("ALL", *log_queries.LEVELS[1:])


def row_of(line: Line, query: str = "") -> dict[str, Any]:
    """What the browser gets for one line: short keys, as thousands may go in a second."""
    return {
        "k": f"{line.attempt}:{line.seq}",
        "n": f"{line.attempt}:{line.seq}" if line.attempt > 1 else str(line.seq),
        "t": line.ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "l": line.level,
        "g": line.logger,
        "m": line.message,
        "p": _parts(line.message, query),
    }


def _parts(message: str, query: str) -> list[str]:
    parts = log_queries.split_matches(message, query) if query else []
    return parts if len(parts) > 1 else []


def _cursor_of(row: dict[str, Any]) -> Cursor:
    attempt, seq = str(row["k"]).split(":")
    return (int(attempt), int(seq))


def _empty_snapshot() -> dict[str, Any]:
    return {"seq": 0, "first": BASE_INDEX, "rows": []}


def _empty_batch() -> dict[str, Any]:
    return {"seq": 0, "first": BASE_INDEX, "count": 0, "rows": [], "reset": False}


class LogViewState(rx.State):
    run_id: rx.Field[int] = rx.field(0)
    #: The whole window (assets/log_list.jsx describes both): sent only when it is replaced.
    snapshot: rx.Field[dict[str, Any]] = rx.field(default_factory=_empty_snapshot)
    #: The last push of live lines.
    batch: rx.Field[dict[str, Any]] = rx.field(default_factory=_empty_batch)
    #: How many lines the window holds.
    shown: rx.Field[int] = rx.field(0)
    #: Changing it mounts the list afresh, scrolled to `start_at` (an index into `lines`).
    view_key: rx.Field[int] = rx.field(0)
    start_at: rx.Field[int] = rx.field(0)
    #: Live lines join the window (False: frozen, or looking at older lines).
    tailing: rx.Field[bool] = rx.field(True)
    auto_scroll: rx.Field[bool] = rx.field(True)
    has_earlier: rx.Field[bool] = rx.field(False)
    #: Lines written since the view stopped tailing.
    pending: rx.Field[int] = rx.field(0)
    level: rx.Field[str] = rx.field("ALL")
    query: rx.Field[str] = rx.field("")
    matches: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    more_matches: rx.Field[bool] = rx.field(False)
    searched: rx.Field[bool] = rx.field(False)
    #: The line a search jump opened at.
    target: rx.Field[str] = rx.field("")
    ended: rx.Field[bool] = rx.field(False)
    note: rx.Field[str] = rx.field("")
    error: rx.Field[str] = rx.field("")
    _gen: int = 0
    #: The rows the page shows, and the list index of the first: the server's copy of the window.
    _window: list[dict[str, Any]] = []
    _first: int = BASE_INDEX
    #: Numbers each snapshot and batch, so the page applies them once, in order.
    _seq: int = 0
    _cursor: Cursor = START
    _search_after: Cursor | None = None
    _last_push: float = 0.0
    _task_beat: float = 0.0
    _stream_ok: bool = True

    # -- opening a run ------------------------------------------------------------------------

    async def follow(self, run_id: int) -> Any:
        """Show `run_id`'s log from its tail and follow it live."""
        if await asyncio.to_thread(signed_in, self) is None:
            self.error = "Your session has ended: sign in again to read logs."
            return None
        self._gen += 1
        self.run_id = run_id
        self.level, self.query, self.matches, self.searched = "ALL", "", [], False
        self.more_matches, self.target, self.error = False, "", ""
        self.ended, self.auto_scroll = False, True
        if not await self._load_tail():
            return None
        return LogViewState.stream(self._gen)

    async def _load_tail(self) -> bool:
        """The window becomes the last PAGE lines (of the chosen level); live lines join it."""
        try:
            cursor, lines, status = await asyncio.to_thread(
                _read_tail, self.run_id, self._min_level()
            )
        except UnknownRunError:
            self.error = (
                f"There is no run {self.run_id}: it never existed, or retention removed it."
            )
            self.run_id = 0
            self._set_window([], has_earlier=False, start_at=0)
            return False
        self._cursor = cursor
        self._set_window(lines, has_earlier=len(lines) >= PAGE, start_at=len(lines) - 1)
        self.tailing, self.pending, self.target = True, 0, ""
        self.ended = log_queries.is_final(status)
        self.note = f"The run has ended ({status})." if self.ended else "Following live."
        self._last_push = time.monotonic()
        return True

    def _min_level(self) -> str:
        return "" if self.level == "ALL" else self.level

    def _set_window(self, lines: list[Line], *, has_earlier: bool, start_at: int) -> None:
        self._first = BASE_INDEX
        self.has_earlier = has_earlier
        self.start_at = max(start_at, 0)
        self.view_key += 1
        self._send_window([row_of(line, self.query) for line in lines])

    def _send_window(self, rows: list[dict[str, Any]]) -> None:
        """The window becomes `rows` and goes to the page whole."""
        self._window, self.shown = rows, len(rows)
        self._seq += 1
        self.snapshot = {"seq": self._seq, "first": self._first, "rows": rows}

    def _send_batch(self, rows: list[dict[str, Any]], *, reset: bool) -> None:
        """`rows` join the window (replace it when `reset`), which keeps its newest TAIL_WINDOW
        lines; only `rows` go to the page."""
        window = rows if reset else [*self._window, *rows]
        dropped = max(len(window) - TAIL_WINDOW, 0)
        self._window, self.shown = window[dropped:], len(window) - dropped
        self._first += dropped
        if dropped:
            self.has_earlier = True
        self._seq += 1
        self.batch = {
            "seq": self._seq,
            "first": self._first,
            "count": self.shown,
            "rows": rows,
            "reset": reset,
        }

    def resync(self) -> None:
        """The page missed a batch: send it the whole window again."""
        if self.run_id > 0:
            self._send_window(self._window)

    # -- live lines ---------------------------------------------------------------------------

    def _take(self, lines: list[Line], *, skipped: bool = False) -> None:
        """Lines after the cursor join the window (or the count of pending ones when frozen).

        `skipped`: lines were left out before these (a flood), so they replace the window.
        """
        fresh = [line for line in lines if line.cursor > self._cursor]
        reset = skipped and self.tailing and bool(self._window)
        if reset:
            # The skipped lines sit between the window's last line and these.
            self._first += len(self._window)
            self.has_earlier = True
        if fresh:
            self._cursor = fresh[-1].cursor
            self._last_push = time.monotonic()
        keep = log_queries.levels_from(self._min_level())
        shown = [line for line in fresh if keep is None or line.level in keep]
        if not self.tailing:
            self.pending += len(shown)
        elif shown or reset:
            self._send_batch(
                [row_of(line, self.query) for line in shown[-TAIL_WINDOW:]], reset=reset
            )

    @rx.event(background=True)  # type: ignore[operator]
    async def stream(self, gen: int) -> None:
        """This client's live feed of the run's lines (one task per `follow`)."""
        async with self:
            if gen != self._gen or self.run_id <= 0 or self.ended:
                return
            run_id, cursor = self.run_id, self._cursor
            self._task_beat = time.monotonic()
        redis = async_client()
        follower = LogFollower(run_id, redis, cursor, keep_last=TAIL_WINDOW)
        try:
            await follower.start()
            batch = await follower.catch_up()
            last_push = 0.0
            while True:
                wait_s = PUSH_EVERY_S - (time.monotonic() - last_push)
                if batch and wait_s > 0 and not follower.final:
                    # Lines came soon after a push: gather more until the next push is due.
                    skipped = follower.skipped
                    follower.skipped = False
                    more = await follower.more(block_ms=max(int(wait_s * 1000), 1))
                    batch = more if follower.skipped else batch + more
                    follower.skipped = follower.skipped or skipped
                async with self:
                    if gen != self._gen:
                        return
                    self._task_beat = time.monotonic()
                    self._stream_ok = follower.stream_ok
                    if batch:
                        self._take(batch, skipped=follower.skipped)
                        follower.skipped = False
                        last_push = time.monotonic()
                    self._live_note(follower)
                if follower.final:
                    return
                batch = await follower.more(block_ms=BLOCK_MS)
        except UnknownRunError:
            return
        finally:
            await redis.aclose()

    def _live_note(self, follower: LogFollower) -> None:
        if follower.final:
            self.ended = True
            self.note = "The run has ended."
        elif not follower.stream_ok:
            self.note = "Live stream unavailable: reading new lines from the database."
        elif self.tailing:
            self.note = "Following live."

    async def poll(self) -> Any:
        """The page's own refresh (when the console polls): if pushes stopped, read new lines
        from the database, and start the live task again if it is gone."""
        control = await self.get_state(LiveControl)
        if self.run_id <= 0 or self.ended or control.paused or control.poll_ms <= 0:
            return None
        now = time.monotonic()
        if now - self._last_push < control.poll_ms / 1000 and self._stream_ok:
            return None
        lines, status = await asyncio.to_thread(_read_after, self.run_id, self._cursor)
        self._take(lines)
        self._last_push = now
        if log_queries.is_final(status):
            self.ended, self.note = True, f"The run has ended ({status})."
            return None
        if now - self._task_beat > TASK_STALE_S:
            self._task_beat = now
            return LogViewState.stream(self._gen)
        return None

    # -- moving around ------------------------------------------------------------------------

    async def load_earlier(self) -> None:
        if self.run_id <= 0 or not self.has_earlier or not self._window:
            return
        before = _cursor_of(self._window[0])
        older = await asyncio.to_thread(_read_before, self.run_id, before, PAGE, self._min_level())
        rows = [*(row_of(line, self.query) for line in older), *self._window]
        self.has_earlier = len(older) >= PAGE
        self._first -= len(older)
        if len(rows) > TAIL_WINDOW and self.tailing:
            # Reading back: hold these lines still rather than trim them as live lines come.
            self.tailing = False
            self.note = "Showing earlier lines: live lines are counted, not added."
        if len(rows) > WINDOW:
            # The window no longer reaches the end of the log.
            rows = rows[:WINDOW]
        self._send_window(rows)

    async def start_reached(self, _index: int) -> None:
        """The list was scrolled to its first line: load earlier lines, unless following live
        (a list that just got its first lines, or was trimmed, is at its start too; the "Load
        earlier lines" button does it then)."""
        if not self.tailing:
            await self.load_earlier()

    async def toggle_tail(self) -> None:
        """Freeze the view where it is, or go back to the live tail."""
        if self.run_id <= 0:
            return
        if self.tailing:
            self.tailing = False
            self.note = "Frozen: new lines are counted, not shown."
            return
        await self._load_tail()

    def toggle_auto_scroll(self) -> None:
        self.auto_scroll = not self.auto_scroll

    async def set_level(self, level: str) -> None:
        if self.run_id <= 0:
            return
        if level not in LEVEL_CHOICES:
            self.error = f"Unknown level {level!r}: choose one of {', '.join(LEVEL_CHOICES)}."
            return
        self.level, self.error = level, ""
        await self._load_tail()
        if self.query:
            await self._search(START)

    # -- search -------------------------------------------------------------------------------

    async def search(self, form: dict[str, Any]) -> None:
        if self.run_id <= 0:
            return
        try:
            query = log_queries.check_query(str(form.get("query", "")))
        except LogQueryError as error:
            self.error = f"{error}. Shorten the search text and try again."
            return
        self.query, self.error = query, ""
        self._send_window([{**row, "p": _parts(str(row["m"]), query)} for row in self._window])
        await self._search(START)

    async def more_results(self) -> None:
        if self.run_id > 0 and self.query and self._search_after is not None:
            await self._search(self._search_after)

    def clear_search(self) -> None:
        self.query, self.matches, self.searched, self.more_matches = "", [], False, False
        self._send_window([{**row, "p": []} for row in self._window])

    async def _search(self, after: Cursor) -> None:
        if not self.query:
            self.matches, self.searched, self.more_matches = [], False, False
            return
        page = await asyncio.to_thread(
            _read_search, self.run_id, self.query, after, self._min_level()
        )
        self.matches = [row_of(line, self.query) for line in page.matches]
        self._search_after = page.next_after
        self.more_matches = page.next_after is not None
        self.searched = True

    async def jump(self, key: str) -> None:
        """Open the window around the line `key` ("attempt:seq"), e.g. a search match."""
        if self.run_id <= 0:
            return
        try:
            at = log_queries.parse_cursor(key)
        except LogQueryError as error:
            self.error = str(error)
            return
        lines = await asyncio.to_thread(_read_around, self.run_id, at, self._min_level())
        index = next((i for i, line in enumerate(lines) if line.cursor == at), 0)
        self._set_window(lines, has_earlier=index >= AROUND, start_at=index)
        self.tailing, self.target = False, key
        self.note = f"Showing the log around line {key}: live lines are counted, not added."

    # -- copy ---------------------------------------------------------------------------------

    def copy(self) -> Any:
        if not self._window:
            return None
        text = "\n".join(_row_text(row) for row in self._window)
        return [
            rx.set_clipboard(text),
            rx.toast.info(f"Copied {len(self._window)} lines.", duration=3000),
        ]


def _row_text(row: dict[str, Any]) -> str:
    return f"{row['t']} {row['l']:<8} [{row['k']}] {row['g']}: {row['m']}"


# Blocking database reads, run in a thread.


def _read_tail(run_id: int, min_level: str) -> tuple[Cursor, list[Line], str]:
    with session_scope() as session:
        status = log_queries.run_status(session, run_id)
        # The last line of any level is where live lines start; read it first so that a line
        # written between the two reads comes once, live.
        last = log_queries.tail(session, run_id, 1)
        cursor = last[-1].cursor if last else START
        lines = log_queries.tail(session, run_id, PAGE, min_level=min_level)
    return cursor, [line for line in lines if line.cursor <= cursor], status


def _read_after(run_id: int, after: Cursor) -> tuple[list[Line], str]:
    with session_scope() as session:
        status = log_queries.run_status(session, run_id)
        return log_queries.lines_after(session, run_id, after, WINDOW), status


def _read_before(run_id: int, before: Cursor, limit: int, min_level: str) -> list[Line]:
    with session_scope() as session:
        return log_queries.lines_before(session, run_id, before, limit, min_level=min_level)


def _read_around(run_id: int, at: Cursor, min_level: str) -> list[Line]:
    with session_scope() as session:
        return log_queries.around(session, run_id, at, AROUND, AROUND, min_level=min_level)


def _read_search(run_id: int, query: str, after: Cursor, min_level: str) -> log_queries.SearchPage:
    with session_scope() as session:
        return log_queries.search(
            session, run_id, query, after=after, limit=MATCH_PAGE, min_level=min_level
        )


# -- components -------------------------------------------------------------------------------


class LogList(rx.Component):
    """assets/log_list.jsx: react-virtuoso's list (only the rows in view are in the DOM), holding
    the window the server sends whole or in live batches."""

    library = rx.asset("log_list.jsx").importable_path
    tag = "LogList"
    lib_dependencies: list[str] = ["react-virtuoso@4.18.21"]

    snapshot: rx.Var[dict[str, Any]]
    batch: rx.Var[dict[str, Any]]
    item_content: rx.Var[Any]
    compute_item_key: rx.Var[Any]
    follow_output: rx.Var[Any]
    initial_top_most_item_index: rx.Var[int]
    increase_viewport_by: rx.Var[int]

    start_reached: rx.EventHandler[passthrough_event_spec(int)]  # type: ignore[valid-type,type-arg]
    on_gap: rx.EventHandler[no_args_event_spec]  # type: ignore[valid-type,type-arg]


def _message() -> rx.Component:
    # Inside the row function rx.foreach cannot render; odd parts are the search hits. Text
    # children only: React escapes them, so a log line is never read as HTML.
    highlighted: rx.Var[Any] = rx.Var(
        "line.p.map((part, i) => (i % 2 ? jsx('mark', {key: i}, part) "
        ": jsx(Fragment, {key: i}, part)))"
    )
    return rx.cond(rx.Var("line.p.length > 0").to(bool), highlighted, rx.Var("line.m").to(str))


def _row() -> rx.Component:
    return rx.el.div(
        rx.el.span(rx.Var("line.n").to(str), class_name="etl-log-no"),
        rx.el.time(
            rx.Var("line.t.slice(11, 23)").to(str),
            date_time=rx.Var("line.t").to(str),
            title=rx.Var("'Local time: ' + new Date(line.t).toLocaleString()").to(str),
            class_name="etl-log-ts",
        ),
        rx.el.span(rx.Var("line.l").to(str), class_name="etl-log-level"),
        rx.el.span(rx.Var("line.g").to(str), class_name="etl-log-logger"),
        rx.el.span(_message(), class_name="etl-log-msg"),
        class_name="etl-log-line",
        data_level=rx.Var("line.l").to(str),
        data_key=rx.Var("line.k").to(str),
        data_target=(rx.Var("line.k").to(str) == LogViewState.target).to_string(),
    )


def _lines() -> rx.Component:
    return rx.box(
        LogList.create(
            snapshot=LogViewState.snapshot,
            batch=LogViewState.batch,
            item_content=ArgsFunctionOperation.create(("index", "line"), _row()),
            compute_item_key=ArgsFunctionOperation.create(("index", "line"), rx.Var("line.k")),
            # A function, so that with auto-scroll on every push scrolls to the newest line
            # (`true` would follow only a list that is already at its bottom).
            follow_output=ArgsFunctionOperation.create(
                ("atBottom",),
                rx.cond(LogViewState.auto_scroll & LogViewState.tailing, "auto", False),
            ),
            initial_top_most_item_index=LogViewState.start_at,
            increase_viewport_by=400,
            start_reached=LogViewState.start_reached,
            on_gap=LogViewState.resync,
            key=LogViewState.view_key,
            id="logview",
            aria_label="Log lines",
            # The scroller must be reachable with the keyboard (axe: scrollable-region-focusable).
            custom_attrs={"tabIndex": 0, "role": "region"},
        ),
        class_name="etl-log-box",
    )


def _level_select() -> rx.Component:
    return rx.hstack(
        rx.el.label("Level", html_for="log-level", class_name="etl-label"),
        rx.el.select(
            *[
                rx.el.option("All levels" if c == "ALL" else f"{c} and above", value=c)
                for c in LEVEL_CHOICES
            ],
            id="log-level",
            value=LogViewState.level,
            on_change=LogViewState.set_level,
            class_name="etl-select",
        ),
        align="center",
    )


def _search_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.el.label("Search the whole log", html_for="log-query", class_name="etl-label"),
            rx.input(id="log-query", name="query", max_length=200, placeholder="text"),
            rx.button("Search", type="submit", variant="soft"),
            rx.cond(
                LogViewState.searched,
                rx.button(
                    "Clear", type="button", variant="ghost", on_click=LogViewState.clear_search
                ),
            ),
            align="center",
            wrap="wrap",
        ),
        on_submit=LogViewState.search,
        id="log-search",
    )


def _match(row: Any) -> rx.Component:
    return rx.el.li(
        rx.button(
            rx.text("Line ", row["n"], " · ", row["l"], as_="span", weight="medium"),
            rx.text(
                rx.foreach(
                    row["p"].to(list[str]),
                    lambda part, i: rx.cond(i % 2 == 1, rx.el.mark(part), rx.el.span(part)),
                ),
                as_="span",
                class_name="etl-log-match-text",
            ),
            on_click=LogViewState.jump(row["k"]),  # type: ignore[call-arg]
            variant="ghost",
            class_name="etl-log-match",
            data_key=row["k"],
        ),
    )


def _matches() -> rx.Component:
    return rx.cond(
        LogViewState.searched,
        rx.box(
            rx.text(
                rx.cond(
                    LogViewState.matches.length() > 0,
                    rx.text(
                        LogViewState.matches.length(),
                        rx.cond(LogViewState.more_matches, "+", ""),
                        " matching lines in the whole log (choose one to open the log there):",
                        as_="span",
                    ),
                    "No line of this log contains the text.",
                ),
                size="2",
                id="log-match-count",
            ),
            rx.el.ol(rx.foreach(LogViewState.matches, _match), class_name="etl-log-matches"),
            rx.cond(
                LogViewState.more_matches,
                rx.button("Next matches", variant="soft", on_click=LogViewState.more_results),
            ),
            id="log-matches",
        ),
    )


def _toolbar() -> rx.Component:
    return rx.hstack(
        _level_select(),
        rx.button(
            rx.cond(LogViewState.tailing, "Freeze", "Back to live tail"),
            on_click=LogViewState.toggle_tail,
            variant="soft",
            id="log-tail",
        ),
        rx.el.label(
            rx.el.input(
                type="checkbox",
                checked=LogViewState.auto_scroll,
                on_change=LogViewState.toggle_auto_scroll,
                id="log-autoscroll",
            ),
            " Auto-scroll",
            class_name="etl-label",
        ),
        rx.button("Copy lines", on_click=LogViewState.copy, variant="soft", id="log-copy"),
        # Document navigation: the router would otherwise show its 404 page instead of the
        # attachment the server answers with.
        rx.link(
            "Download full log",
            href="/api/runs/" + LogViewState.run_id.to_string() + "/logs.txt",
            reload_document=True,
            download=True,
            id="log-download",
            size="2",
        ),
        rx.cond(
            LogViewState.has_earlier,
            rx.button(
                "Load earlier lines",
                on_click=LogViewState.load_earlier,
                variant="ghost",
                id="log-earlier",
            ),
        ),
        align="center",
        wrap="wrap",
        spacing="3",
    )


def log_view() -> rx.Component:
    return rx.el.section(
        rx.heading("Log", as_="h2", size="4"),
        rx.cond(
            LogViewState.error,
            rx.callout(LogViewState.error, color_scheme="red", role="alert", id="log-error"),
        ),
        rx.cond(
            LogViewState.run_id > 0,
            rx.vstack(
                _toolbar(),
                _search_form(),
                _matches(),
                rx.text(
                    LogViewState.note,
                    rx.cond(
                        LogViewState.pending > 0,
                        rx.text(" ", LogViewState.pending, " new lines since.", as_="span"),
                    ),
                    " Times are UTC; point at one for local time.",
                    size="2",
                    id="log-note",
                ),
                rx.cond(
                    LogViewState.shown == 0,
                    rx.text("No log lines yet.", size="2", id="log-empty"),
                ),
                # Mounted while empty too, so the first lines arrive in a list that follows.
                _lines(),
                spacing="3",
                width="100%",
            ),
        ),
        poller(
            interval_ms=rx.cond(LiveControl.paused, 0, LiveControl.poll_ms),
            on_tick=LogViewState.poll,
        ),
        id="log-view",
        class_name="etl-log",
        aria_label="Run log",
    )
