"""The scheduler's leader lease in Redis, with a fencing token, and its heartbeat row.

One scheduler leads at a time: it holds the key ``etl:scheduler:leader`` (value
``"<holder id> <token>"``, expiring after the lease TTL) and renews it with a Lua
compare-and-extend. Each acquisition takes a new fencing token from ``INCR etl:scheduler:epoch``
in the same script, so a newer leader always has a larger token than any before it (until
Redis loses its data). A standby polls the key and takes over once the leader stops renewing.

A holder also keeps a local deadline (monotonic clock): the lease counts as held only until
`ttl_s` after the last successful acquire or renew *was sent*, so a leader cut off from Redis
stops acting before another scheduler can have taken over. Nothing depends on this alone:
ticks are unique in the database and dispatching holds a database lock.

Heartbeat: every scheduler writes a row in dw_etl_workers with worker_id
``scheduler:<host>:<pid>`` (the prefix is the role marker) on the database clock; ``running``
is 1 while it leads and 0 while it stands by. Worker queries must skip that prefix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlmodel import Session, col, func, select

from etl_orchestrator.db import db_now
from etl_orchestrator.models import WorkerRecord
from etl_orchestrator.timeutil import as_utc

LEADER_KEY = "etl:scheduler:leader"
EPOCH_KEY = "etl:scheduler:epoch"
#: worker_id prefix of scheduler rows in dw_etl_workers.
SCHEDULER_PREFIX = "scheduler:"

# Take the lease if it is free (new token), or keep it if this holder already has it.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current then
  local holder, token = string.match(current, '^(.*) (%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class LeaderInfo:
    holder: str
    token: int
    ttl_ms: int


class LeaderLease:
    """One scheduler's view of the lease: acquire, renew, release, and whether it is held."""

    def __init__(
        self,
        client: aioredis.Redis,
        holder: str,
        *,
        ttl_s: float = 10.0,
        key: str = LEADER_KEY,
        epoch_key: str = EPOCH_KEY,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl_s}")
        if " " in holder:
            raise ValueError(f"holder id {holder!r} must not contain spaces")
        self.client = client
        self.holder = holder
        self.ttl_s = ttl_s
        self.key = key
        self.epoch_key = epoch_key
        self.token: int | None = None
        self._valid_until = 0.0

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_s * 1000))

    @property
    def _value(self) -> str:
        return f"{self.holder} {self.token}"

    def held(self) -> bool:
        """Held as far as this process can tell: acquired and not past the local deadline."""
        return self.token is not None and time.monotonic() < self._valid_until

    async def acquire(self) -> int | None:
        """The fencing token if this holder now leads (new, or its own live lease), else None."""
        sent = time.monotonic()
        reply = await self.client.eval(  # type: ignore[misc]
            _ACQUIRE, 2, self.key, self.epoch_key, self.holder, self._ttl_ms
        )
        token = int(reply)
        if token <= 0:
            self.token = None
            return None
        self.token = token
        self._valid_until = sent + self.ttl_s
        return token

    async def renew(self) -> bool:
        """Extend the lease if this holder still has it; False means leadership is lost."""
        if self.token is None:
            return False
        sent = time.monotonic()
        reply = await self.client.eval(_RENEW, 1, self.key, self._value, self._ttl_ms)  # type: ignore[misc]
        if int(reply) != 1:
            self.token = None
            return False
        self._valid_until = sent + self.ttl_s
        return True

    def forget(self) -> None:
        """Stop counting as leader locally (the key, if still ours, simply expires)."""
        self.token = None

    async def release(self) -> None:
        """Give the lease up at once so a standby need not wait for it to expire."""
        if self.token is None:
            return
        value = self._value
        self.token = None
        await self.client.eval(_RELEASE, 1, self.key, value)  # type: ignore[misc]


async def current_leader(client: aioredis.Redis, key: str = LEADER_KEY) -> LeaderInfo | None:
    """Who holds the lease now, with its token and remaining time; None when nobody does."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.get(key)
        pipe.pttl(key)
        raw, ttl_ms = await pipe.execute()
    if raw is None:
        return None
    holder, _, token = (raw.decode() if isinstance(raw, bytes) else str(raw)).rpartition(" ")
    return LeaderInfo(holder=holder, token=int(token), ttl_ms=int(ttl_ms))


def scheduler_id(host: str, pid: int) -> str:
    return f"{SCHEDULER_PREFIX}{host}:{pid}"


def record_heartbeat(session: Session, worker_id: str, host: str, pid: int, leading: bool) -> None:
    """This scheduler is alive (database clock); `leading` is stored as running = 1."""
    now = db_now(session)
    record = session.get(WorkerRecord, worker_id)
    if record is None:
        record = WorkerRecord(worker_id=worker_id, host=host, pid=pid, started_at=now)
    record.last_heartbeat_at = now
    record.running = 1 if leading else 0
    record.stopped_at = None
    session.add(record)


def record_stopped(session: Session, worker_id: str) -> None:
    record = session.get(WorkerRecord, worker_id)
    if record is not None:
        record.stopped_at = db_now(session)
        record.running = 0
        session.add(record)


def scheduler_heartbeat_age(session: Session) -> float | None:
    """Seconds since the leading scheduler last beat (database clock); None if none leads.

    A leader that died keeps its row with running = 1; the age then grows until a standby
    takes over and beats as the new leader, so a large age means nobody is scheduling.
    """
    latest = session.exec(
        select(func.max(WorkerRecord.last_heartbeat_at)).where(
            col(WorkerRecord.worker_id).startswith(SCHEDULER_PREFIX),
            col(WorkerRecord.running) > 0,
            col(WorkerRecord.stopped_at).is_(None),
        )
    ).one()
    if latest is None:
        return None
    return max(0.0, (db_now(session, fresh=True) - as_utc(latest)).total_seconds())
