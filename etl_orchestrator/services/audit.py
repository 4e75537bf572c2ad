"""Writes audit rows: who did what, to what, with which params, why, and how it ended."""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from etl_orchestrator.models import AuditEntry

OUTCOMES = ("ok", "refused", "error")


def _jsonable(params: Mapping[str, Any] | None) -> dict[str, Any]:
    # Params may hold dates, decimals or enums; the audit keeps their text form.
    return dict(json.loads(json.dumps(dict(params or {}), default=str)))


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    params: Mapping[str, Any] | None = None,
    reason: str = "",
    outcome: str = "ok",
    role: str = "",
    detail: str = "",
) -> AuditEntry:
    """Add an audit row to `session`: it commits or rolls back with the action it records."""
    if not actor.strip():
        raise ValueError("an audit row needs an actor (the user name, or 'system')")
    if not action.strip():
        raise ValueError("an audit row needs an action, e.g. 'runs.trigger'")
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    entry = AuditEntry(
        actor=actor.strip()[:128],
        role=role,
        action=action.strip()[:64],
        target=target[:256],
        params=_jsonable(params),
        reason=reason,
        outcome=outcome,
        detail=detail,
    )
    session.add(entry)
    session.flush()
    return entry


def shell_actor() -> str:
    """The actor for an action taken from a shell: 'cli:<OS user>'."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no USER variable and no passwd entry (some containers)
        return "cli"
