"""Slows down password guessing: after a few failed sign-ins per user name and address, wait."""

from __future__ import annotations

import hashlib
import math
from typing import cast

import redis

#: Failures allowed before each further attempt has to wait.
FREE_FAILURES = 5
#: Failures are forgotten this long after the last one.
WINDOW_S = 15 * 60
#: The wait doubles with each further failure, up to this.
MAX_WAIT_S = 15 * 60


class SignInThrottle:
    """Counts failed sign-ins in Redis, shared by every backend worker.

    Past FREE_FAILURES the pair (user name, address) must wait 1, 2, 4 … seconds (at most
    MAX_WAIT_S) before the password is even checked, so guessing gets slow without locking the
    real user out for long.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def _key(username: str, address: str) -> str:
        digest = hashlib.sha256(f"{username}\0{address}".encode()).hexdigest()[:32]
        return f"etl:web:signin:{digest}"

    def wait_s(self, username: str, address: str) -> int:
        """Seconds before this pair may try again (0: it may try now)."""
        remaining_ms = cast(int, self._redis.pttl(self._key(username, address) + ":wait"))
        return math.ceil(remaining_ms / 1000) if remaining_ms > 0 else 0

    def failed(self, username: str, address: str) -> int:
        """Count a failure; returns the wait it imposes (0 while failures are still free)."""
        key = self._key(username, address)
        pipe = self._redis.pipeline()
        pipe.incr(key + ":fails")
        pipe.expire(key + ":fails", WINDOW_S)
        failures = cast(int, pipe.execute()[0])
        if failures < FREE_FAILURES:
            return 0
        wait = min(1 << min(failures - FREE_FAILURES, 20), MAX_WAIT_S)
        self._redis.set(key + ":wait", "1", ex=wait)
        return wait

    def succeeded(self, username: str, address: str) -> None:
        """A good sign-in forgets the failures."""
        key = self._key(username, address)
        self._redis.delete(key + ":fails", key + ":wait")
