"""Tests for cron validation and fire times; daylight saving is checked by a brute-force scan."""

from __future__ import annotations

import calendar
import functools
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl_orchestrator.cron import (
    CronError,
    describe_cron,
    due_ticks,
    next_fire_times,
    validate_cron,
    validate_timezone,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
# Whole-hour, half-hour (Lord Howe moves 30 minutes), 45-minute and southern-hemisphere rules.
ZONES = [
    "UTC",
    BERLIN,
    NEW_YORK,
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "Europe/Dublin",
]
MINUTE = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ticks_between(expr: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """All fire times in (start, end], fetched in batches from next_fire_times."""
    found: list[datetime] = []
    cursor = start
    while True:
        batch = next_fire_times(expr, tz, cursor, 200)
        found += [moment for moment in batch if moment <= end]
        if batch[-1] > end:
            return found
        cursor = batch[-1]


def local(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def restricted(allowed: frozenset[int] | None, size: int) -> bool:
    """A field listing every value counts as '*' (so '1-31' does not turn on the OR of days)."""
    return allowed is not None and len(allowed) < size


@dataclass(frozen=True)
class Cron:
    """A generated schedule: the sets each field allows (None = '*') and the text for it."""

    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    days: frozenset[int] | None
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # Sunday is 0

    @property
    def text(self) -> str:
        fields = (self.minutes, self.hours, self.days, self.months, self.weekdays)
        return " ".join("*" if f is None else ",".join(map(str, sorted(f))) for f in fields)

    def matches(self, wall: datetime) -> bool:
        """Cron semantics spelled out: both day fields restricted means either may match."""

        def ok(allowed: frozenset[int] | None, value: int) -> bool:
            return allowed is None or value in allowed

        weekday = wall.isoweekday() % 7
        days = self.days if restricted(self.days, 31) else None
        weekdays = self.weekdays if restricted(self.weekdays, 7) else None
        if days is not None and weekdays is not None:
            day_ok = wall.day in days or weekday in weekdays
        else:
            day_ok = ok(days, wall.day) and ok(weekdays, weekday)
        return (
            ok(self.minutes, wall.minute)
            and ok(self.hours, wall.hour)
            and ok(self.months, wall.month)
            and day_ok
        )


def subset_or_star(values: range, max_size: int) -> st.SearchStrategy[frozenset[int] | None]:
    return st.none() | st.frozensets(st.sampled_from(values), min_size=1, max_size=max_size)


@st.composite
def crons(draw: st.DrawFn) -> Cron:
    """Schedules dense around the small hours, where daylight saving moves the clock."""
    return Cron(
        minutes=draw(subset_or_star(range(60), 4)),
        hours=draw(st.none() | st.frozensets(st.sampled_from(range(5)), min_size=1, max_size=3)),
        days=draw(st.none() | st.frozensets(st.sampled_from(range(1, 32)), min_size=20)),
        months=None,
        weekdays=draw(subset_or_star(range(7), 6)),
    )


def fires_at(cron: Cron, zone: ZoneInfo, instant: datetime) -> bool:
    """The design's rule, checked one UTC minute at a time, independently of the code under test.

    A wall time fires at its first occurrence only; the first minute after a gap in the local
    clock fires if any skipped wall time matched.
    """
    here = instant.astimezone(zone)
    wall = here.replace(tzinfo=None)
    if here.fold == 0 and cron.matches(wall):
        return True
    before = (instant - MINUTE).astimezone(zone).replace(tzinfo=None)
    skipped = before + MINUTE
    while skipped < wall:
        if cron.matches(skipped):
            return True
        skipped += MINUTE
    return False


@functools.cache
def transitions(tz: str) -> list[datetime]:
    """Hours (UTC) in which the zone's offset changes, 2021-2027."""
    zone = ZoneInfo(tz)
    found = []
    moment = utc(2021, 1, 1)
    offset = moment.astimezone(zone).utcoffset()
    while moment.year < 2028:
        moment += timedelta(hours=1)
        current = moment.astimezone(zone).utcoffset()
        if current != offset:
            found.append(moment)
            offset = current
    return found or [utc(2024, 3, 31)]


@st.composite
def near_transitions(draw: st.DrawFn) -> tuple[str, datetime]:
    tz = draw(st.sampled_from(ZONES))
    moment = draw(st.sampled_from(transitions(tz)))
    shift = draw(st.integers(min_value=-30 * 60, max_value=3 * 60))
    seconds = draw(st.sampled_from([0, 0, 1, 59]))
    return tz, moment + timedelta(minutes=shift, seconds=seconds)


@settings(max_examples=50, deadline=None)
@given(crons(), near_transitions(), st.integers(min_value=1, max_value=6))
def test_fire_times_equal_a_minute_by_minute_scan_around_dst_transitions(
    cron: Cron, where: tuple[str, datetime], count: int
) -> None:
    tz, after = where
    zone = ZoneInfo(tz)
    window_end = after + timedelta(hours=36)
    expected: list[datetime] = []
    instant = after.replace(second=0, microsecond=0) + MINUTE
    while instant <= window_end and len(expected) < count:
        if fires_at(cron, zone, instant):
            expected.append(instant)
        instant += MINUTE
    got = next_fire_times(cron.text, tz, after, count)
    assert len(got) == count
    assert expected == [moment for moment in got if moment <= window_end]


@given(crons(), near_transitions(), st.integers(min_value=2, max_value=12))
def test_fire_times_are_aware_utc_strictly_increasing_and_after_the_start(
    cron: Cron, where: tuple[str, datetime], count: int
) -> None:
    tz, after = where
    got = next_fire_times(cron.text, tz, after, count)
    assert all(moment.tzinfo is UTC for moment in got)
    assert after < got[0]
    assert all(earlier < later for earlier, later in itertools.pairwise(got))
    zone = ZoneInfo(tz)
    assert all(fires_at(cron, zone, moment) for moment in got)


@given(crons(), near_transitions())
def test_stepping_one_fire_time_at_a_time_gives_the_same_sequence(
    cron: Cron, where: tuple[str, datetime]
) -> None:
    tz, after = where
    batch = next_fire_times(cron.text, tz, after, 5)
    stepped = [after]
    for _ in range(5):
        stepped += next_fire_times(cron.text, tz, stepped[-1])
    assert stepped[1:] == batch


@given(
    crons(),
    near_transitions(),
    st.integers(min_value=0, max_value=30 * 60),
    st.integers(min_value=0, max_value=8),
)
def test_due_ticks_are_the_newest_fire_times_in_the_window(
    cron: Cron, where: tuple[str, datetime], window_minutes: int, limit: int
) -> None:
    tz, last_tick = where
    now = last_tick + timedelta(minutes=window_minutes, seconds=30)
    in_window = ticks_between(cron.text, tz, last_tick, now)
    assert (
        due_ticks(cron.text, tz, last_tick, now, limit)
        == in_window[max(0, len(in_window) - limit) :]
    )


@given(crons(), near_transitions(), st.integers(min_value=0, max_value=5))
def test_due_ticks_without_a_last_tick_reach_as_far_back_as_the_limit_needs(
    cron: Cron, where: tuple[str, datetime], limit: int
) -> None:
    tz, now = where
    long_ago = now - timedelta(days=400)  # these schedules fire at least every month
    expected = due_ticks(cron.text, tz, long_ago, now, limit)
    assert len(expected) == limit
    assert due_ticks(cron.text, tz, None, now, limit) == expected


def test_missing_local_time_fires_at_the_next_valid_minute_in_berlin() -> None:
    got = next_fire_times("30 2 * * *", BERLIN, utc(2024, 3, 30, 12), 3)
    assert got == [utc(2024, 3, 31, 1, 0), utc(2024, 4, 1, 0, 30), utc(2024, 4, 2, 0, 30)]
    assert local(got[0], BERLIN) == "2024-03-31 03:00 CEST"


def test_missing_local_time_fires_at_the_next_valid_minute_in_new_york() -> None:
    got = next_fire_times("30 2 * * *", NEW_YORK, utc(2024, 3, 9, 12), 2)
    assert [local(t, NEW_YORK) for t in got] == ["2024-03-10 03:00 EDT", "2024-03-11 02:30 EDT"]


def test_several_missing_times_fire_once_at_the_end_of_the_gap() -> None:
    got = next_fire_times("*/15 2,3 * * *", BERLIN, utc(2024, 3, 30, 12), 5)
    assert [local(t, BERLIN) for t in got] == [
        "2024-03-31 03:00 CEST",
        "2024-03-31 03:15 CEST",
        "2024-03-31 03:30 CEST",
        "2024-03-31 03:45 CEST",
        "2024-04-01 02:00 CEST",
    ]


def test_repeated_local_time_fires_once_at_its_first_occurrence_in_berlin() -> None:
    got = next_fire_times("30 2 * * *", BERLIN, utc(2024, 10, 26, 12), 2)
    assert [local(t, BERLIN) for t in got] == ["2024-10-27 02:30 CEST", "2024-10-28 02:30 CET"]


def test_repeated_local_time_fires_once_at_its_first_occurrence_in_new_york() -> None:
    got = next_fire_times("30 1 * * *", NEW_YORK, utc(2024, 11, 2, 12), 2)
    assert got == [utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        (
            BERLIN,
            utc(2024, 10, 26, 22, 30),
            ["2024-10-27 01:00 CEST", "2024-10-27 02:00 CEST", "2024-10-27 03:00 CET"],
        ),
        (
            NEW_YORK,
            utc(2024, 11, 3, 4, 30),
            ["2024-11-03 01:00 EDT", "2024-11-03 02:00 EST", "2024-11-03 03:00 EST"],
        ),
    ],
)
def test_hourly_cron_fires_the_repeated_hour_once_across_fall_back(
    tz: str, after: datetime, expected: list[str]
) -> None:
    assert [local(t, tz) for t in next_fire_times("0 * * * *", tz, after, 3)] == expected


def test_start_inside_the_repeated_hour_skips_to_the_next_new_wall_time() -> None:
    second_pass = utc(2024, 10, 27, 1, 10)  # 02:10 CET, the second 02:10 of the night
    got = next_fire_times("*/20 * * * *", BERLIN, second_pass)
    assert [local(t, BERLIN) for t in got] == ["2024-10-27 03:00 CET"]


def test_hourly_cron_across_spring_forward_loses_the_missing_hour() -> None:
    got = next_fire_times("0 * * * *", BERLIN, utc(2024, 3, 31, 0, 30), 2)
    assert [local(t, BERLIN) for t in got] == ["2024-03-31 03:00 CEST", "2024-03-31 04:00 CEST"]


def test_fire_time_equal_to_after_is_excluded() -> None:
    assert next_fire_times("0 2 * * *", "UTC", utc(2024, 1, 1, 2)) == [utc(2024, 1, 2, 2)]


def test_after_in_another_offset_is_read_as_the_same_instant() -> None:
    after = datetime(2024, 1, 1, 3, tzinfo=ZoneInfo("Europe/Berlin"))  # 02:00 UTC
    assert next_fire_times("0 2 * * *", "UTC", after) == [utc(2024, 1, 2, 2)]


def test_count_zero_gives_nothing_and_negative_count_is_refused() -> None:
    assert next_fire_times("@hourly", "UTC", utc(2024, 1, 1), 0) == []
    with pytest.raises(ValueError, match="count must be 0 or more"):
        next_fire_times("@hourly", "UTC", utc(2024, 1, 1), -1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        next_fire_times("@hourly", "UTC", datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="naive datetime"):
        due_ticks("@hourly", "UTC", datetime(2024, 1, 1), utc(2024, 1, 2), 1)


def test_leap_day_cron_waits_for_the_next_leap_year() -> None:
    assert next_fire_times("0 0 29 2 *", "UTC", utc(2025, 1, 1)) == [utc(2028, 2, 29)]


def test_day_of_month_and_weekday_both_restricted_fire_on_either() -> None:
    # January 2024: the 1st is a Monday; the 13th (a Saturday) fires through the day-of-month.
    got = next_fire_times("0 0 13 * 5", "UTC", utc(2024, 1, 1), 3)
    assert got == [utc(2024, 1, 5), utc(2024, 1, 12), utc(2024, 1, 13)]


@pytest.mark.parametrize(
    ("alias", "spelled_out"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
    ],
)
def test_alias_fires_like_its_five_field_form(alias: str, spelled_out: str) -> None:
    start = utc(2024, 2, 27, 13, 7)
    assert next_fire_times(alias, BERLIN, start, 3) == next_fire_times(
        spelled_out, BERLIN, start, 3
    )


def test_catch_up_after_downtime_keeps_only_the_newest_ticks() -> None:
    ticks = due_ticks("0 * * * *", "UTC", utc(2024, 1, 1), utc(2024, 1, 8, 5, 30), limit=3)
    assert ticks == [utc(2024, 1, 8, 3), utc(2024, 1, 8, 4), utc(2024, 1, 8, 5)]


def test_due_ticks_window_excludes_the_last_tick_and_includes_now() -> None:
    ticks = due_ticks("0 * * * *", "UTC", utc(2024, 1, 1, 1), utc(2024, 1, 1, 3), limit=10)
    assert ticks == [utc(2024, 1, 1, 2), utc(2024, 1, 1, 3)]


def test_due_ticks_is_empty_when_nothing_fell_due() -> None:
    assert due_ticks("0 2 * * *", "UTC", utc(2024, 1, 1, 2), utc(2024, 1, 1, 23), 5) == []
    assert due_ticks("0 2 * * *", "UTC", utc(2024, 1, 1, 2), utc(2024, 1, 1, 1), 5) == []
    assert due_ticks("0 2 * * *", "UTC", None, utc(2024, 1, 5), 0) == []


def test_due_ticks_in_the_repeated_hour_include_its_first_occurrence_only() -> None:
    now = utc(2024, 10, 27, 1, 50)  # 02:50 CET, second pass; 02:30 already fired as CEST
    ticks = due_ticks("30 * * * *", BERLIN, None, now, 2)
    assert [local(t, BERLIN) for t in ticks] == ["2024-10-27 01:30 CEST", "2024-10-27 02:30 CEST"]


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit must be 0 or more"):
        due_ticks("@hourly", "UTC", None, utc(2024, 1, 1), -1)


@dataclass(frozen=True)
class FieldSpec:
    low: int
    high: int
    names: tuple[str, ...] = ()  # names for low, low + 1, ...


FIELD_SPECS = {
    "minute": FieldSpec(0, 59),
    "hour": FieldSpec(0, 23),
    "day-of-month": FieldSpec(1, 31),
    "month": FieldSpec(1, 12, tuple(calendar.month_abbr[1:])),
    "day-of-week": FieldSpec(0, 6, ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")),
}


def spellings(spec: FieldSpec, value: int) -> st.SearchStrategy[str]:
    if not spec.names:
        return st.just(str(value))
    name = spec.names[value - spec.low]
    return st.sampled_from([str(value), name.lower(), name.upper(), name])


@st.composite
def field_expressions(draw: st.DrawFn, spec: FieldSpec) -> tuple[str, set[int]]:
    """A comma list of values, ranges and steps, with the set of values it stands for."""

    def token(value: int) -> str:
        return draw(spellings(spec, value))

    parts: list[str] = []
    values: set[int] = set()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["value", "range", "star-step", "range-step", "start-step"]))
        low = draw(st.integers(spec.low, spec.high))
        high = draw(st.integers(low, spec.high))
        step = draw(st.integers(1, spec.high - spec.low + 1))
        if kind == "value":
            parts.append(token(low))
            values.add(low)
        elif kind == "range":
            parts.append(f"{token(low)}-{token(high)}")
            values.update(range(low, high + 1))
        elif kind == "star-step":
            parts.append(f"*/{step}")
            values.update(range(spec.low, spec.high + 1, step))
        elif kind == "range-step":
            parts.append(f"{token(low)}-{token(high)}/{step}")
            values.update(range(low, high + 1, step))
        else:
            parts.append(f"{token(low)}/{step}")
            values.update(range(low, spec.high + 1, step))
    return ",".join(parts), values


@pytest.mark.parametrize(
    ("field", "template", "span", "extract"),
    [
        ("minute", "{} * * * *", timedelta(hours=1), lambda t: t.minute),
        ("hour", "0 {} * * *", timedelta(days=1), lambda t: t.hour),
        ("day-of-month", "0 0 {} * *", timedelta(days=31), lambda t: t.day),
        ("month", "0 0 1 {} *", timedelta(days=366), lambda t: t.month),
        ("day-of-week", "0 0 * * {}", timedelta(days=7), lambda t: t.isoweekday() % 7),
    ],
)
@settings(max_examples=40)
@given(data=st.data())
def test_field_syntax_fires_on_exactly_the_values_it_names(
    field: str, template: str, span: timedelta, extract: object, data: st.DataObject
) -> None:
    spec = FIELD_SPECS[field]
    text, expected = data.draw(field_expressions(spec))
    start = utc(2024, 1, 1) - timedelta(microseconds=1)  # a Monday, in a leap year
    *inside, beyond = next_fire_times(template.format(text), "UTC", start, len(expected) + 1)
    assert {extract(t) for t in inside} == expected  # type: ignore[operator]
    assert inside[-1] < start + span <= beyond


def test_sunday_may_be_written_as_seven_and_ends_a_weekday_range() -> None:
    start = utc(2024, 1, 1)  # a Monday
    sundays = next_fire_times("0 0 * * 0", "UTC", start, 3)
    assert next_fire_times("0 0 * * 7", "UTC", start, 3) == sundays
    weekend = next_fire_times("0 0 * * sat,sun", "UTC", start, 4)
    assert next_fire_times("0 0 * * sat-sun", "UTC", start, 4) == weekend
    assert next_fire_times("0 0 * * 6-7", "UTC", start, 4) == weekend
    assert next_fire_times("0 0 * * sun-sun", "UTC", start, 3) == sundays


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "invalid cron '61 * * * *': minute must be 0-59, got '61'"),
        ("0 24 * * *", "hour must be 0-23, got '24'"),
        ("0 0 0 * *", "day-of-month must be 1-31, got '0'"),
        ("0 0 * 13 *", "month must be 1-12 or jan-dec, got '13'"),
        ("0 0 * * 8", "day-of-week must be 0-7 or sun-sat"),
        ("0 0 * foo *", "month has an unknown value 'foo'"),
        ("0 0 L * *", "cron extensions such as L and W are not supported"),
        ("0 0 * * 1#2", "day-of-week has an unsupported value '1#2'"),
        ("*/0 * * * *", "minute step must be 1-60, got '0'"),
        ("50-10 * * * *", "minute range '50-10' runs backwards: write it as '50-59,0-10'"),
        ("1,,2 * * * *", "minute '1,,2' has an empty list entry"),
        ("*-5 * * * *", "'*' cannot start a range"),
        ("* * * *", "it has 4 fields, use 5 fields 'minute hour day-of-month month day-of-week'"),
        ("0 * * * * *", "seconds and years are not supported"),
        ("@reboot", "unknown alias '@reboot'"),
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("0 0 31 2 *", "it never fires: February never has day 31"),
        ("0 0 31 4,6 *", "it never fires: April, June never has day 31"),
    ],
)
def test_invalid_cron_says_what_is_wrong(expr: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        validate_cron(expr)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"invalid cron {expr!r}: ")


def test_day_field_listing_every_day_counts_as_star_beside_a_weekday() -> None:
    mondays = next_fire_times("0 0 * * mon", "UTC", utc(2024, 1, 1), 3)
    assert next_fire_times("0 0 1-31 * mon", "UTC", utc(2024, 1, 1), 3) == mondays


def test_day_thirty_one_with_a_weekday_list_still_fires() -> None:
    assert validate_cron("0 0 31 2 1") == "0 0 31 2 1"
    assert next_fire_times("0 0 31 2 1", "UTC", utc(2024, 1, 1)) == [utc(2024, 2, 5)]


@pytest.mark.parametrize(
    ("expr", "normalised"),
    [
        ("  0   2 * * MON ", "0 2 * * mon"),
        ("@DAILY", "@daily"),
        ("*/15\t9-17 * JAN-Mar mon-fri", "*/15 9-17 * jan-mar mon-fri"),
        ("30 2 * * *", "30 2 * * *"),
    ],
)
def test_validate_cron_normalises_spacing_and_case(expr: str, normalised: str) -> None:
    assert validate_cron(expr) == normalised
    assert validate_cron(normalised) == normalised


@pytest.mark.parametrize("name", ["UTC", BERLIN, NEW_YORK, "Asia/Kathmandu", "Etc/GMT+5"])
def test_iana_timezones_are_accepted(name: str) -> None:
    assert validate_timezone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    "name",
    ["Mars/Base", "", "europe/berlin", "Europe", "../etc/passwd", "/etc/localtime", "localtime"],
)
def test_unknown_timezone_names_an_example_to_use(name: str) -> None:
    with pytest.raises(CronError) as caught:
        validate_timezone(name)
    assert str(caught.value) == (
        f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
    )


def test_fire_times_refuse_an_unknown_timezone() -> None:
    with pytest.raises(CronError, match="unknown timezone 'Mars/Base'"):
        next_fire_times("@daily", "Mars/Base", utc(2024, 1, 1))


@pytest.mark.parametrize(
    ("expr", "description"),
    [
        ("0 2 * * *", "At 02:00 AM"),
        ("@daily", "At 12:00 AM"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 2 * * mon-fri", "At 02:00 AM, Monday through Friday"),
    ],
)
def test_describe_cron_reads_as_english(expr: str, description: str) -> None:
    assert describe_cron(expr) == description


def test_describe_cron_falls_back_to_the_expression_when_it_is_invalid() -> None:
    assert describe_cron("61 * * * *") == "61 * * * *"
