"""The Redis fixture gives a real server: round trips, pipelines, and a clean shutdown."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
import redis

from fraudwatch.devtools import redis as redis_devtools
from fraudwatch.devtools.redis import RedisUnavailable, throwaway_redis


def test_set_get_round_trip(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"test:{uuid.uuid4().hex}"
    try:
        assert client.set(key, "42", ex=60)
        assert client.get(key) == b"42"
    finally:
        client.delete(key)
        client.close()


def test_pipeline_is_one_round_trip_of_many_commands(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    key = f"test:{uuid.uuid4().hex}"
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"count": 1, "sum": "12.5"})
            pipe.hincrby(key, "count", 2)
            pipe.hincrbyfloat(key, "sum", 0.5)
            pipe.expire(key, 60)
            pipe.hgetall(key)
            results = pipe.execute()
        assert results[1:4] == [3, 13.0, True]
        assert results[4] == {"count": "3", "sum": "13"}
    finally:
        client.delete(key)
        client.close()


def test_hiredis_parser_is_in_use() -> None:
    assert redis.utils.HIREDIS_AVAILABLE


def test_throwaway_server_is_persistence_free_and_gone_after_exit() -> None:
    try:
        with throwaway_redis() as url:
            client = redis.Redis.from_url(url, decode_responses=True)
            assert client.ping()
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("appendonly") == {"appendonly": "no"}
            root = Path(client.config_get("dir")["dir"])
            assert root.is_dir()
            port = client.connection_pool.connection_kwargs["port"]
            client.close()
    except RedisUnavailable as exc:
        pytest.skip(f"Redis unavailable: {exc}")
    assert not root.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_devtools.shutil, "which", lambda _name: None)
    monkeypatch.setattr(redis_devtools, "_SEARCH_PATHS", ("/nonexistent/redis-server",))
    with pytest.raises(RedisUnavailable, match="apt-get install redis-server"), throwaway_redis():
        pass
