"""What an alert says, independent of where it goes: title, lines, deep link (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: Alert kinds. run_failed is per run; the others are systemic (the engine itself is in trouble).
RUN_FAILED = "run_failed"
NO_WORKERS = "no_workers"
SCHEDULER_UNHEALTHY = "scheduler_unhealthy"
SCHEDULER_FAILOVER = "scheduler_failover"
SYSTEMIC_KINDS = frozenset({NO_WORKERS, SCHEDULER_UNHEALTHY, SCHEDULER_FAILOVER})

KIND_LABELS = {
    RUN_FAILED: "Run failed",
    NO_WORKERS: "No live workers",
    SCHEDULER_UNHEALTHY: "Scheduler unhealthy",
    SCHEDULER_FAILOVER: "Scheduler failover",
}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def run_link(base_url: str, run_id: int) -> str:
    """The console page of a run: BASE_URL/runs/<run_id>."""
    return f"{base_url.rstrip('/')}/runs/{run_id}"


@dataclass(frozen=True)
class AlertMessage:
    """One alert, ready to render: `lines` are label/value pairs shown as fields."""

    kind: str
    severity: str
    title: str
    summary: str
    created_at: datetime
    link: str | None = None
    link_text: str = "Open in the console"
    lines: list[tuple[str, str]] = field(default_factory=list)
    env: str = ""

    @property
    def heading(self) -> str:
        prefix = f"[{self.env}] " if self.env else ""
        return f"{prefix}{self.title}"
