"""Fixtures of the feature tests: a Redis server for the online state backend.

Redis comes from `FRAUDWATCH_TEST_REDIS_URL` when set, else a throwaway `redis-server` started on
a free loopback port for the session. If it cannot start the Redis tests skip, or fail when
`CI=true`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from fraudwatch.devtools.redis import RedisUnavailable, throwaway_redis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get("FRAUDWATCH_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_redis())
        except (RedisUnavailable, OSError) as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"Redis is required in CI but could not start: {exc}")
            pytest.skip(f"Redis unavailable: {exc}")
        yield url
