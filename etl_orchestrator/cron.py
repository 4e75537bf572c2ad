"""Pure cron logic: validate expressions and timezones, compute fire times in UTC from local time.

A cron runs on the wall clock of the job's IANA timezone; every result is an aware UTC
datetime. Daylight saving follows the design, one rule for every expression:

* a local time that happens twice (clocks go back) fires once, at its first occurrence.
  Hourly ``0 * * * *`` across the Berlin fall-back fires at 02:00 CEST and next at 03:00 CET:
  one run per distinct local wall-clock time, never two for the repeated 02:00;
* a local time that does not exist (clocks go forward) fires at the next valid minute, so
  ``30 2 * * *`` fires at 03:00 local on the Berlin spring-forward day. Several missing
  times that all land on that minute fire once.

croniter itself (7.0, given zone-aware start times) already moves missing times forward,
but fires a repeated time twice (``30 2 * * *`` runs at 02:30 CEST and again at 02:30 CET).
So croniter only walks the naive wall clock here, and the mapping to UTC is done below.

Accepted syntax: five fields (minute hour day-of-month month day-of-week), each a comma
list of ``*``, ``n``, ``a-b``, ``*/s``, ``a-b/s`` or ``a/s`` (a to the field's end); month
names jan-dec and weekday names sun-sat; day-of-week 7 is Sunday. When both day fields are
restricted a day matching either fires, as in Vixie cron; a field that allows every value
counts as ``*`` however it is written (so ``0 0 1-31 * mon`` fires on Mondays only).
Aliases: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually. Extensions such
as ``L``, ``W``, ``#``, ``?``, hashed ``H`` or a seconds field are refused rather than
half-supported.
"""

from __future__ import annotations

import calendar
import functools
import itertools
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cron_descriptor import Options, get_description
from croniter import croniter

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_FORMAT_HINT = (
    "use 5 fields 'minute hour day-of-month month day-of-week' (e.g. '30 2 * * *') "
    "or one of @hourly, @daily, @weekly, @monthly, @yearly"
)
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {
    name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
}
_ELEMENT = re.compile(r"^(?P<start>\*|[a-z0-9]+)(?:-(?P<end>[a-z0-9]+))?(?:/(?P<step>[0-9]+))?$")
# The host's own zone under an IANA-looking name: a schedule must not depend on the machine.
_HOST_ZONES = frozenset({"localtime", "posixrules"})


class CronError(ValueError):
    """A cron expression or timezone that cannot be used, with what to write instead."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]
    allowed: str

    @property
    def span(self) -> int:
        return self.high - self.low + 1


_FIELDS = (
    _Field("minute", 0, 59, {}, "0-59"),
    _Field("hour", 0, 23, {}, "0-23"),
    _Field("day-of-month", 1, 31, {}, "1-31"),
    _Field("month", 1, 12, _MONTHS, "1-12 or jan-dec"),
    _Field("day-of-week", 0, 6, _WEEKDAYS, "0-7 or sun-sat (0 and 7 are Sunday)"),
)


@dataclass(frozen=True)
class _Schedule:
    text: str  # the normalised expression as the user wrote it
    five_fields: str  # with any alias spelled out
    values: tuple[frozenset[int], ...]  # allowed values per field, Sunday as 0

    @property
    def explicit(self) -> str:
        """For croniter: plain number lists, so none of its own shorthand semantics apply."""
        return " ".join(
            "*" if len(values) == field.span else ",".join(map(str, sorted(values)))
            for field, values in zip(_FIELDS, self.values, strict=True)
        )


def _invalid(expr: str, reason: str) -> CronError:
    return CronError(f"invalid cron {expr!r}: {reason}")


def _value(expr: str, field: _Field, token: str) -> int:
    if token.isdigit():
        number = int(token)
        # 7 is Sunday too (folded to 0 after expansion), so that ranges such as 5-7 read forward.
        top = field.high + 1 if field.name == "day-of-week" else field.high
        if field.low <= number <= top:
            return number
        raise _invalid(expr, f"{field.name} must be {field.allowed}, got {token!r}")
    if token in field.names:
        return field.names[token]
    extensions = (
        "; cron extensions such as L and W are not supported"
        if field.name == "day-of-month"
        else ""
    )
    raise _invalid(
        expr, f"{field.name} has an unknown value {token!r}: use {field.allowed}{extensions}"
    )


def _parse_element(expr: str, field: _Field, element: str) -> set[int]:
    match = _ELEMENT.match(element)
    if match is None:
        raise _invalid(
            expr,
            f"{field.name} has an unsupported value {element!r}: use {field.allowed}, "
            "'*', ranges a-b and steps such as */15",
        )
    start, end, step_text = match["start"], match["end"], match["step"]
    if start == "*":
        if end is not None:
            raise _invalid(expr, f"{field.name} value {element!r}: '*' cannot start a range")
        low, high = field.low, field.high
    else:
        low = _value(expr, field, start)
        if end is not None:
            high = _value(expr, field, end)
            if end == "sun" and low > 0:
                high = 7  # 'fri-sun' means Friday to Sunday, as 5-7 does
        else:
            high = max(field.high, low) if step_text is not None else low
        if low > high:
            split = (
                f"write it as '{start}-{field.high},{field.low}-{end}'"
                if step_text is None
                else "split it into two ranges"
            )
            raise _invalid(expr, f"{field.name} range {element!r} runs backwards: {split}")
    step = 1
    if step_text is not None:
        step = int(step_text)
        if not 1 <= step <= field.span:
            raise _invalid(expr, f"{field.name} step must be 1-{field.span}, got {step_text!r}")
    return {
        value % 7 if field.name == "day-of-week" else value for value in range(low, high + 1, step)
    }


def _never_fires(values: tuple[frozenset[int], ...]) -> str | None:
    days, months, weekdays = values[2], values[3], values[4]
    if len(weekdays) < 7 or len(days) == _FIELDS[2].span:
        return None  # a weekday list or every day of the month always meets the calendar
    longest = max(calendar.monthrange(2000, month)[1] for month in months)  # 2000: leap year
    if min(days) <= longest:
        return None
    month_names = ", ".join(calendar.month_name[month] for month in sorted(months))
    return f"it never fires: {month_names} never has day {min(days)}"


@functools.lru_cache(maxsize=1024)
def _parse(expr: str) -> _Schedule:
    if not isinstance(expr, str) or not expr.strip():
        raise CronError(f"invalid cron {expr!r}: it is empty; {_FORMAT_HINT}")
    text = " ".join(expr.lower().split())
    if text.startswith("@"):
        if text not in ALIASES:
            raise _invalid(expr, f"unknown alias {text!r}; {_FORMAT_HINT}")
        five_fields = ALIASES[text]
    else:
        five_fields = text
    parts = five_fields.split(" ")
    if len(parts) != len(_FIELDS):
        extra = "; seconds and years are not supported" if len(parts) in (6, 7) else ""
        raise _invalid(expr, f"it has {len(parts)} fields, {_FORMAT_HINT}{extra}")
    values: list[frozenset[int]] = []
    for field, part in zip(_FIELDS, parts, strict=True):
        allowed: set[int] = set()
        for element in part.split(","):
            if not element:
                raise _invalid(expr, f"{field.name} {part!r} has an empty list entry")
            allowed |= _parse_element(expr, field, element)
        values.append(frozenset(allowed))
    schedule = _Schedule(text=text, five_fields=five_fields, values=tuple(values))
    reason = _never_fires(schedule.values)
    if reason is not None:
        raise _invalid(expr, reason)
    return schedule


def validate_cron(expr: str) -> str:
    """The expression with spacing and case normalised; CronError says what is wrong."""
    return _parse(expr).text


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _HOST_ZONES


def validate_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The zone for an IANA name such as 'Europe/Berlin'; CronError for anything else."""
    if not isinstance(name, str) or name not in _zone_names():
        raise CronError(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        )
    return zoneinfo.ZoneInfo(name)


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime {value!r}: pass a timezone-aware UTC value")
    return value.astimezone(UTC)


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None, "aware datetimes from ZoneInfo always have an offset"
    return offset


def _wall_to_utc(wall: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The instant a naive local wall-clock time fires at, by the rules in the module docstring."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # fold=0: first occurrence
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    probe = wall  # inside a gap: walk to the first minute the clock shows again
    while True:
        probe += timedelta(minutes=1)
        instant = probe.replace(tzinfo=zone).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == probe:
            return instant


def _walker(schedule: _Schedule, wall: datetime) -> croniter[float]:
    # Naive wall-clock times travel through croniter tagged as UTC, which has no DST to apply.
    return croniter(schedule.explicit, wall.replace(tzinfo=UTC))


def _fire_times_after(
    schedule: _Schedule, zone: zoneinfo.ZoneInfo, after: datetime
) -> Iterator[datetime]:
    walker = _walker(schedule, after.astimezone(zone).replace(tzinfo=None))
    latest = after
    while True:
        wall: datetime = walker.get_next(datetime).replace(tzinfo=None)
        instant = _wall_to_utc(wall, zone)
        # Wall times map to non-decreasing instants; equal ones are gap times sharing a minute,
        # earlier ones are first occurrences of the repeated hour that ``after`` sits in.
        if instant > latest:
            latest = instant
            yield instant


def _fire_times_until(
    schedule: _Schedule, zone: zoneinfo.ZoneInfo, now: datetime
) -> Iterator[datetime]:
    """Fire times at or before ``now``, newest first."""
    local = now.astimezone(zone)
    wall = local.replace(tzinfo=None)
    # In the second pass of a repeated hour, later wall times of that hour already fired
    # (at their first occurrence), so the backward walk starts at the end of the repeat.
    repeat = _offset(local.replace(fold=0)) - _offset(local.replace(fold=1))
    start = wall + max(repeat, timedelta(0))
    start = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    walker = _walker(schedule, start)
    newest: datetime | None = None
    while True:
        wall = walker.get_prev(datetime).replace(tzinfo=None)
        instant = _wall_to_utc(wall, zone)
        if instant <= now and instant != newest:
            newest = instant
            yield instant


def next_fire_times(expr: str, tz: str, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``, as aware UTC datetimes."""
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    schedule, zone = _parse(expr), validate_timezone(tz)
    after_utc = _require_aware(after, "after")
    return list(itertools.islice(_fire_times_after(schedule, zone, after_utc), count))


def due_ticks(
    expr: str, tz: str, last_tick: datetime | None, now: datetime, limit: int
) -> list[datetime]:
    """Fire times in (last_tick, now], oldest first; only the newest ``limit`` are kept.

    With no ``last_tick`` the window is open to the past, so the newest ``limit`` ticks up to
    ``now`` come back. Work is proportional to ``limit``, not to the length of the downtime.
    """
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, got {limit}")
    schedule, zone = _parse(expr), validate_timezone(tz)
    now_utc = _require_aware(now, "now")
    newest_first = _fire_times_until(schedule, zone, now_utc)
    if last_tick is not None:
        since = _require_aware(last_tick, "last_tick")
        newest_first = itertools.takewhile(lambda tick: tick > since, newest_first)
    ticks = list(itertools.islice(newest_first, limit))
    ticks.reverse()
    return ticks


def describe_cron(expr: str) -> str:
    """A sentence such as 'At 02:00 AM'; the expression itself if it cannot be described."""
    try:
        schedule = _parse(expr)
    except CronError:
        return expr
    try:
        return str(get_description(schedule.five_fields, Options(locale_code="en_US")))
    except Exception:  # a description is a nicety: any failure of the library shows the cron
        return schedule.text
