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
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


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


def _start(
    binary: Path, root: Path, extra_args: Sequence[str], timeout: float
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server on a free port, retrying when another process takes the port first."""
    log = root / "redis.log"
    for _attempt in range(3):
        port = _free_port()
        process = subprocess.Popen(
            _command(binary, port, root, extra_args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if _answers_ping(port):
                return process, port
            time.sleep(0.02)
        _stop(process)
        if time.monotonic() >= deadline:
            break
    raise RedisUnavailable(f"redis-server ({binary}) did not start:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        logger.warning("redis-server %d ignored SIGTERM; killing it", process.pid)
        process.kill()
        process.wait(timeout=10)


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
        process, port = _start(binary, root, extra_args, startup_timeout)
        logger.info("throwaway Redis (%s) on 127.0.0.1:%d", binary, port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:  # pragma: no cover - interactive helper
    logging.basicConfig(level=logging.INFO)
    with throwaway_redis() as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":  # pragma: no cover
    main()
