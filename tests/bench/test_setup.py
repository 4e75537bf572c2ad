"""The benchmarks' private services: a Redis db a benchmark claims stays its own for the whole
run, so another benchmark or test run starting meanwhile cannot flush the console's state."""

from __future__ import annotations

import redis

from bench._setup import OWNER_KEY, claim_redis_db, private_services, release_redis_db


def test_a_second_benchmark_never_takes_or_flushes_the_first_ones_redis_db():
    with private_services("first") as (_, first_url):
        first = redis.Redis.from_url(first_url)
        # What the console keeps there during a run (Reflex's state, the run's log stream).
        first.set("reflex-state-of-the-open-page", "run 42")
        with private_services("second") as (_, second_url):
            assert second_url != first_url
        assert first.get("reflex-state-of-the-open-page") == b"run 42"
        first.close()


def test_a_db_holding_keys_without_a_claim_is_left_alone():
    url = claim_redis_db("etl_bench_probe_1")
    assert url is not None
    with redis.Redis.from_url(url) as client:
        # A process whose claim was lost (expired, or flushed away) still uses the db.
        client.delete(OWNER_KEY)
        client.set("someone-elses-state", "1")
        other = claim_redis_db("etl_bench_probe_2")
        if other is not None:
            assert other != url
            assert release_redis_db(other, "etl_bench_probe_2")
        assert client.get("someone-elses-state") == b"1"
        assert not release_redis_db(url, "etl_bench_probe_1")
        assert client.get("someone-elses-state") == b"1"
        client.flushdb()
