"""Reading one run's stored log: keyset pages by (attempt, seq), level filter, text search.

The engine numbers lines per attempt (`seq` starts at 1 for each attempt), so a position in a run's
log is the pair (attempt, seq) and every query pages on that pair (the table's primary key after
run_id), never with OFFSET.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, tuple_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from etl_orchestrator.models import Run, RunLog
from etl_orchestrator.services.run_queries import UnknownRunError
from etl_orchestrator.states import FINAL
from etl_orchestrator.timeutil import as_utc

#: (attempt, seq): a line's place in its run's log.
Cursor = tuple[int, int]
START: Cursor = (0, 0)
MAX_LIMIT = 5000
#: The level filter's choices, lowest first; a choice shows its level and every higher one.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Spellings other loggers use for the same levels.
_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
MAX_QUERY_CHARS = 200


class LogQueryError(ValueError):
    """A bad filter or cursor; the message says what is allowed."""


@dataclass(frozen=True)
class Line:
    attempt: int
    seq: int
    ts: datetime
    level: str
    logger: str
    message: str

    @property
    def cursor(self) -> Cursor:
        return (self.attempt, self.seq)

    @classmethod
    def of_row(cls, row: RunLog) -> Line:
        return cls(row.attempt, row.seq, as_utc(row.ts), row.level, row.logger, row.message)

    def text(self) -> str:
        """The line as the download and the clipboard give it (UTC, ISO 8601)."""
        stamp = self.ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return f"{stamp} {self.level:<8} [{self.attempt}:{self.seq}] {self.logger}: {self.message}"


@dataclass(frozen=True)
class SearchPage:
    """Matches in log order; `next_after` continues the search, None when there are no more."""

    matches: list[Line]
    next_after: Cursor | None


def parse_cursor(value: str) -> Cursor:
    """ "A:S" (attempt and seq) or "S" (a seq of the first attempt)."""
    try:
        if ":" in value:
            attempt, seq = value.split(":", 1)
            cursor = (int(attempt), int(seq))
        else:
            cursor = (1, int(value))
    except ValueError:
        raise LogQueryError(
            f"bad log position {value!r}: use <seq> or <attempt>:<seq>, e.g. 1:250"
        ) from None
    if cursor[0] < 0 or cursor[1] < 0:
        raise LogQueryError(f"bad log position {value!r}: numbers must not be negative")
    return cursor


def levels_from(min_level: str) -> list[str] | None:
    """The stored level names a "this level and above" filter keeps; None keeps every line."""
    name = _ALIASES.get(min_level.upper(), min_level.upper())
    if name in ("", "ALL", "DEBUG"):
        return None
    if name not in LEVELS:
        raise LogQueryError(f"unknown level {min_level!r}: use one of {', '.join(LEVELS)}")
    kept = LEVELS[LEVELS.index(name) :]
    return [*kept, *(alias for alias, level in _ALIASES.items() if level in kept)]


def _check(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise LogQueryError(f"page size {limit} is out of range: use 1 to {MAX_LIMIT}")


def _key() -> ColumnElement[tuple[int, int]]:
    return tuple_(col(RunLog.attempt), col(RunLog.seq))


def _after(cursor: Cursor) -> ColumnElement[bool]:
    # Spelt out rather than a row comparison so SQLite and PostgreSQL both use the primary key.
    attempt, seq = cursor
    return or_(
        col(RunLog.attempt) > attempt, and_(col(RunLog.attempt) == attempt, col(RunLog.seq) > seq)
    )


def _before(cursor: Cursor) -> ColumnElement[bool]:
    attempt, seq = cursor
    return or_(
        col(RunLog.attempt) < attempt, and_(col(RunLog.attempt) == attempt, col(RunLog.seq) < seq)
    )


def _lines(
    session: Session,
    run_id: int,
    where: Sequence[ColumnElement[bool]],
    *,
    levels: list[str] | None,
    limit: int,
    newest_first: bool = False,
) -> list[Line]:
    query = select(RunLog).where(col(RunLog.run_id) == run_id, *where)
    if levels is not None:
        query = query.where(col(RunLog.level).in_(levels))
    if newest_first:
        query = query.order_by(col(RunLog.attempt).desc(), col(RunLog.seq).desc())
    else:
        query = query.order_by(col(RunLog.attempt), col(RunLog.seq))
    rows = [Line.of_row(row) for row in session.exec(query.limit(limit))]
    return rows[::-1] if newest_first else rows


def run_status(session: Session, run_id: int) -> str:
    """The run's status; UnknownRunError when there is no such run."""
    run = session.get(Run, run_id)
    if run is None:
        raise UnknownRunError(run_id)
    return str(run.status)


def is_final(status: str) -> bool:
    return status in FINAL


def lines_after(
    session: Session, run_id: int, after: Cursor, limit: int, *, min_level: str = ""
) -> list[Line]:
    """Up to `limit` lines after `after`, oldest first."""
    _check(limit)
    return _lines(session, run_id, [_after(after)], levels=levels_from(min_level), limit=limit)


def lines_before(
    session: Session, run_id: int, before: Cursor, limit: int, *, min_level: str = ""
) -> list[Line]:
    """The `limit` lines just before `before`, oldest first ("load earlier")."""
    _check(limit)
    return _lines(
        session,
        run_id,
        [_before(before)],
        levels=levels_from(min_level),
        limit=limit,
        newest_first=True,
    )


def tail(session: Session, run_id: int, limit: int, *, min_level: str = "") -> list[Line]:
    """The last `limit` lines, oldest first."""
    _check(limit)
    return _lines(
        session, run_id, [], levels=levels_from(min_level), limit=limit, newest_first=True
    )


def around(
    session: Session, run_id: int, at: Cursor, before: int, after: int, *, min_level: str = ""
) -> list[Line]:
    """The line at `at` (whatever its level) with up to `before` lines before and `after` after."""
    _check(before + after + 1)
    levels = levels_from(min_level)
    earlier = (
        _lines(session, run_id, [_before(at)], levels=levels, limit=before, newest_first=True)
        if before
        else []
    )
    attempt, seq = at
    here = _lines(
        session,
        run_id,
        [col(RunLog.attempt) == attempt, col(RunLog.seq) == seq],
        levels=None,
        limit=1,
    )
    later = _lines(session, run_id, [_after(at)], levels=levels, limit=after) if after else []
    return [*earlier, *here, *later]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def check_query(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_QUERY_CHARS:
        raise LogQueryError(f"the search text is too long: at most {MAX_QUERY_CHARS} characters")
    return text


def search(
    session: Session,
    run_id: int,
    text: str,
    *,
    after: Cursor = START,
    limit: int = 100,
    min_level: str = "",
) -> SearchPage:
    """Lines whose message contains `text` (case-insensitive), over the run's whole stored log."""
    _check(limit)
    text = check_query(text)
    if not text:
        return SearchPage([], None)
    where = [_after(after), col(RunLog.message).ilike(_like_pattern(text), escape="\\")]
    found = _lines(session, run_id, where, levels=levels_from(min_level), limit=limit + 1)
    more = len(found) > limit
    matches = found[:limit]
    return SearchPage(matches, matches[-1].cursor if more and matches else None)


def split_matches(message: str, text: str) -> list[str]:
    """`message` cut around each case-insensitive occurrence of `text`: odd items are the hits."""
    if not text:
        return [message]
    lower, needle = message.lower(), text.lower()
    parts: list[str] = []
    start = 0
    while (found := lower.find(needle, start)) >= 0:
        parts += [message[start:found], message[found : found + len(needle)]]
        start = found + len(needle)
    parts.append(message[start:])
    return parts
