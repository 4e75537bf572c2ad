"""Publishes committed run changes onto the capped etl:events Redis stream."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

from etl_orchestrator import db
from etl_orchestrator.redis_conn import EVENTS_MAXLEN, EVENTS_STREAM, sync_client

log = logging.getLogger(__name__)


def publish(events: list[dict[str, Any]]) -> None:
    """Best effort: the database is the truth, and the dispatcher also polls on a timer."""
    try:
        pipe = sync_client().pipeline(transaction=False)
        for event in events:
            pipe.xadd(
                EVENTS_STREAM,
                {"data": json.dumps(event, default=str)},
                maxlen=EVENTS_MAXLEN,
                approximate=True,
            )
        pipe.execute()
    except redis.RedisError as error:
        log.warning("could not publish %d event(s) to %s: %s", len(events), EVENTS_STREAM, error)


def install() -> None:
    """Publish every committed transaction's events from now on in this process."""
    db.add_after_commit_hook(publish)
