"""The jobs table's view: its URL query (filters, sort, page cursor) and its rows, no Reflex."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlencode

from etl_orchestrator.cron import describe_cron
from etl_orchestrator.services import job_queries
from etl_orchestrator.services.job_queries import JobActivity, JobRow
from etl_orchestrator.timeutil import iso

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DEFAULT_SORT = "job_id"
MAX_SEARCH = 128
#: URL value of the enabled filter -> list_jobs' enabled argument.
ENABLED_VALUES = {"yes": True, "no": False}


@dataclass(frozen=True)
class JobsQuery:
    """What the URL says to show. `to_query()` of it is the URL; a shared link reproduces it."""

    sort: str = DEFAULT_SORT
    descending: bool = False
    enabled: str = ""  # "", "yes", "no"
    outcome: str = ""  # "", "success", "fail"
    tag: str = ""
    domain: str = ""
    search: str = ""
    after: str = ""
    before: str = ""
    size: int = PAGE_SIZE

    @property
    def filtered(self) -> bool:
        return bool(self.enabled or self.outcome or self.tag or self.domain or self.search)

    def to_query(self) -> str:
        pairs: list[tuple[str, str]] = []
        if self.sort != DEFAULT_SORT:
            pairs.append(("sort", self.sort))
        if self.descending:
            pairs.append(("dir", "desc"))
        for key, value in (
            ("enabled", self.enabled),
            ("outcome", self.outcome),
            ("tag", self.tag),
            ("domain", self.domain),
            ("q", self.search),
            ("after", self.after),
            ("before", self.before),
        ):
            if value:
                pairs.append((key, value))
        if self.size != PAGE_SIZE:
            pairs.append(("size", str(self.size)))
        return urlencode(pairs)

    def url(self) -> str:
        query = self.to_query()
        return "/jobs" + (f"?{query}" if query else "")

    def first_page(self, **changes: Any) -> JobsQuery:
        """The same view with `changes`, from its first page (a new order or filter)."""
        return replace(self, **{"after": "", "before": "", **changes})

    def list_options(self) -> dict[str, Any]:
        """Keyword arguments of job_queries.list_jobs for this view."""
        return {
            "sort": self.sort,
            "descending": self.descending,
            "enabled": ENABLED_VALUES.get(self.enabled),
            "last_outcome": self.outcome or None,
            "tags": [self.tag] if self.tag else [],
            "domain": self.domain or None,
            "search": self.search or None,
            "after": self.after or None,
            "before": self.before or None,
            "limit": self.size,
        }


def parse_query(query: str) -> tuple[JobsQuery, list[str]]:
    """The view a URL query asks for, and what in it was ignored (and why), never an error."""
    values = {key: items[-1] for key, items in parse_qs(query, keep_blank_values=False).items()}
    problems: list[str] = []

    def pick(key: str, allowed: Any, label: str) -> str:
        value = values.get(key, "")
        if value and value not in allowed:
            problems.append(f"unknown {label} {value[:40]!r} ignored")
            return ""
        return value

    sort = pick("sort", job_queries.SORTS, "sort") or DEFAULT_SORT
    direction = pick("dir", ("asc", "desc"), "direction")
    after, before = values.get("after", ""), values.get("before", "")
    if after and before:
        problems.append("two page cursors: showing the first page")
        after = before = ""
    size = PAGE_SIZE
    raw_size = values.get("size", "")
    if raw_size:
        if raw_size.isdigit() and 1 <= int(raw_size) <= MAX_PAGE_SIZE:
            size = int(raw_size)
        else:
            problems.append(f"page size {raw_size[:10]!r} ignored (use 1 to {MAX_PAGE_SIZE})")
    parsed = JobsQuery(
        size=size,
        sort=sort,
        descending=direction == "desc",
        enabled=pick("enabled", ENABLED_VALUES, "enabled filter"),
        outcome=pick("outcome", job_queries.OUTCOMES, "outcome"),
        tag=values.get("tag", "")[:MAX_SEARCH],
        domain=values.get("domain", "")[:MAX_SEARCH],
        search=values.get("q", "").strip()[:MAX_SEARCH],
        after=after[:1024],
        before=before[:1024],
    )
    return parsed, problems


@dataclass
class JobTableRow:
    """One row as the table shows it. Times are ISO 8601 UTC ("…Z") or ""."""

    job_id: str = ""
    name: str = ""
    enabled: bool = True
    cron: str = ""
    cron_text: str = ""
    timezone: str = ""
    next_run_at: str = ""
    last_status: str = ""
    last_duration: str = ""
    dependencies: int = 0
    priority: int = 0
    tags: list[str] = field(default_factory=list)
    domain: str = ""
    parameterized: bool = False
    #: The status of the run in progress ("" when none).
    active: str = ""
    backoff: bool = False
    #: The 24 h transient-failure rate as text ("" without transient failures).
    transient: str = ""


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def transient_text(activity: JobActivity | None) -> str:
    if activity is None or not activity.transient_attempts or not activity.attempts:
        return ""
    rate = activity.transient_attempts / activity.attempts
    return f"{rate:.0%} ({activity.transient_attempts} of {activity.attempts} attempts)"


def live_fields(activity: JobActivity, at_ms: int) -> dict[str, str]:
    """What a live update changes in a row (all text: the table overlays it on its window)."""
    return {
        "status": activity.last_run_status or "",
        "duration": duration_text(activity.last_run_duration_s),
        "active": activity.active_status or "",
        "backoff": "yes" if activity.backoff else "",
        "transient": transient_text(activity),
        "at": str(at_ms),
    }


def now_ms() -> int:
    return int(time.time() * 1000)


def table_row(row: JobRow, activity: JobActivity | None) -> JobTableRow:
    return JobTableRow(
        job_id=row.job_id,
        name=row.name,
        enabled=row.enabled,
        cron=row.cron or "",
        cron_text=describe_cron(row.cron) if row.cron else "",
        timezone=row.timezone,
        next_run_at=iso(row.next_run_at) or "",
        last_status=(activity.last_run_status if activity else row.last_run_status) or "",
        last_duration=duration_text(
            activity.last_run_duration_s if activity else row.last_run_duration_s
        ),
        dependencies=row.dependencies,
        priority=row.priority,
        tags=list(row.tags),
        domain=row.domain,
        parameterized=row.parameterized,
        active=(activity.active_status or "") if activity else "",
        backoff=bool(activity and activity.backoff),
        transient=transient_text(activity),
    )
