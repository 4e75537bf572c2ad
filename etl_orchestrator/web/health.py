"""The system's health for the console: the observability check as JSON and a short summary."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

HEALTH_MODULE = "etl_orchestrator.observability.health"
#: Overall statuses that mean "all is well" (anything else raises the alert banner).
GOOD = frozenset({"ok", "healthy", "pass", "up"})


@dataclass(frozen=True)
class HealthSummary:
    """`available` is False until the health check exists; then nothing is shown."""

    available: bool
    status: str = "unknown"
    problems: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        return self.available and self.status.lower() not in GOOD


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if hasattr(value, "model_dump"):
        return dict(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return {"status": str(value)}


def _problems(report: dict[str, Any]) -> list[str]:
    """Human lines for what is wrong: explicit problem lists, or each check not ok."""
    for key in ("problems", "messages", "issues"):
        listed = report.get(key)
        if isinstance(listed, list) and listed:
            return [str(item) for item in listed]
    checks = report.get("checks")
    lines = []
    if isinstance(checks, dict):
        checks = [{"name": name, **_as_dict(check)} for name, check in checks.items()]
    if isinstance(checks, list):
        for check in checks:
            item = _as_dict(check)
            if str(item.get("status", "ok")).lower() not in GOOD:
                name = item.get("name", "check")
                lines.append(
                    f"{name}: {item.get('message') or item.get('detail') or item['status']}"
                )
    return lines


async def current_health() -> HealthSummary:
    """Run observability.health.check_health() if this version has it (sync or async)."""
    try:
        module = importlib.import_module(HEALTH_MODULE)
    except ModuleNotFoundError as error:
        if error.name and HEALTH_MODULE.startswith(error.name):
            return HealthSummary(available=False)
        raise
    check = getattr(module, "check_health", None)
    if check is None:
        return HealthSummary(available=False)
    try:
        if inspect.iscoroutinefunction(check):
            result = await check()
        else:
            # A synchronous check does I/O: keep it off the event loop.
            result = await asyncio.to_thread(check)
            if inspect.isawaitable(result):
                result = await result
    except Exception as error:  # the check itself broke: that is a degraded state to show
        log.exception("the health check failed")
        return HealthSummary(
            available=True,
            status="error",
            problems=[f"the health check itself failed: {error}"],
            report={"status": "error", "error": str(error)},
        )
    report = _as_dict(result)
    status = str(report.get("status", "unknown"))
    return HealthSummary(available=True, status=status, problems=_problems(report), report=report)
