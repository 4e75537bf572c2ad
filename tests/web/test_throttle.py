"""The sign-in throttle: free failures, then a doubling wait per user name and address."""

from __future__ import annotations

import pytest
import redis

from etl_orchestrator.redis_conn import sync_client
from etl_orchestrator.web.throttle import FREE_FAILURES, MAX_WAIT_S, SignInThrottle


@pytest.fixture
def limiter() -> SignInThrottle:
    return SignInThrottle(sync_client())


def test_the_first_failures_are_free(limiter: SignInThrottle):
    waits = [limiter.failed("vic", "10.0.0.1") for _ in range(FREE_FAILURES - 1)]
    assert waits == [0] * (FREE_FAILURES - 1)
    assert limiter.wait_s("vic", "10.0.0.1") == 0


def test_later_failures_double_the_wait_up_to_the_maximum(limiter: SignInThrottle):
    for _ in range(FREE_FAILURES - 1):
        limiter.failed("vic", "10.0.0.1")
    waits = [limiter.failed("vic", "10.0.0.1") for _ in range(14)]
    assert waits[:4] == [1, 2, 4, 8]
    assert waits[-1] == MAX_WAIT_S
    assert 0 < limiter.wait_s("vic", "10.0.0.1") <= MAX_WAIT_S


def test_the_wait_is_per_user_name_and_address(limiter: SignInThrottle):
    for _ in range(FREE_FAILURES + 3):
        limiter.failed("vic", "10.0.0.1")
    assert limiter.wait_s("vic", "10.0.0.1") > 0
    assert limiter.wait_s("vic", "10.0.0.2") == 0
    assert limiter.wait_s("olga", "10.0.0.1") == 0


def test_success_forgets_failures_and_the_wait(limiter: SignInThrottle):
    for _ in range(FREE_FAILURES + 1):
        limiter.failed("vic", "10.0.0.1")
    limiter.succeeded("vic", "10.0.0.1")
    assert limiter.wait_s("vic", "10.0.0.1") == 0
    assert limiter.failed("vic", "10.0.0.1") == 0


def test_keys_do_not_contain_the_user_name(limiter: SignInThrottle):
    limiter.failed("vic@example.com", "10.0.0.1")
    client: redis.Redis = sync_client()
    keys = [key.decode() for key in client.scan_iter("etl:web:signin:*")]
    assert keys
    assert not any("vic" in key for key in keys)
