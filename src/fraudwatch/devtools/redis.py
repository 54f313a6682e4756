"""A throwaway Redis server on a free loopback port, for tests, benchmarks and exploration.

`throwaway_redis()` starts `redis-server` in the foreground with persistence off (no RDB
snapshots, no AOF) and its working directory in a temporary folder, waits until it answers PING,
yields its URL, and on exit stops it and removes the folder. Redis runs fine as root, so unlike
PostgreSQL no user switch is needed.

    python -m fraudwatch.devtools.redis      # start one and print its URL until Ctrl-C
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from fraudwatch.devtools.process import launch, stop, tail
from fraudwatch.errors import FraudwatchError

logger = logging.getLogger(__name__)

_SEARCH_PATHS = (
    "/usr/bin/redis-server",
    "/usr/local/bin/redis-server",
    "/opt/homebrew/bin/redis-server",
)


class RedisUnavailable(FraudwatchError):
    """The redis-server binary is missing or the server would not start."""

    code = "redis_unavailable"


def find_redis_server() -> Path:
    """The `redis-server` binary: the one on PATH, else a usual install location."""
    on_path = shutil.which("redis-server")
    candidates = [Path(on_path)] if on_path else []
    candidates.extend(Path(p) for p in _SEARCH_PATHS)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise RedisUnavailable(
        "redis-server not found: install the Redis server package (e.g. "
        "`apt-get install redis-server`) or set FRAUDWATCH_TEST_REDIS_URL to an existing server"
    )


def _answers_ping(port: int) -> bool:
    """True once the server accepts a connection and replies +PONG (not -LOADING)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _command(binary: Path, port: int, root: Path, extra_args: Sequence[str]) -> list[str]:
    return [
        str(binary),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(root),
        "--logfile",
        str(root / "redis.log"),
        "--daemonize",
        "no",
        *extra_args,
    ]


@contextlib.contextmanager
def throwaway_redis(
    *, extra_args: Sequence[str] = (), startup_timeout: float = 20.0
) -> Iterator[str]:
    """Start a temporary Redis server and yield `redis://127.0.0.1:PORT/0`.

    `extra_args` are passed to redis-server (e.g. `["--maxmemory", "256mb"]`). The server and its
    temporary directory are gone on exit, whatever happens inside the block. Raises
    `RedisUnavailable` when the binary is missing or the server does not answer in time.
    """
    binary = find_redis_server()
    root = Path(tempfile.mkdtemp(prefix="fraudwatch-redis-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        started = launch(
            lambda port: _command(binary, port, root, extra_args),
            _answers_ping,
            timeout=startup_timeout,
            poll_s=0.02,
        )
        if started is None:
            raise RedisUnavailable(
                f"redis-server ({binary}) did not start:\n{tail(root / 'redis.log')}"
            )
        process, port = started
        logger.info("throwaway Redis (%s) on 127.0.0.1:%d", binary, port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if process is not None:
            stop(process, "redis-server")
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:  # pragma: no cover - interactive helper
    logging.basicConfig(level=logging.INFO)
    with throwaway_redis() as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":  # pragma: no cover
    main()
