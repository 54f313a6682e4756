"""A throwaway PostgreSQL cluster on a free loopback port, for tests, benchmarks and exploration.

`throwaway_postgres()` runs `initdb` into a temporary directory, starts the server tuned for
speed over durability (fsync off, small shared buffers), yields its URL and removes everything on
exit. PostgreSQL refuses to run as root, so when we are root the server binaries run as the
`postgres` system user, which owns the temporary directory.

    python -m fraudwatch.devtools.postgres      # start one and print its URL until Ctrl-C
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from fraudwatch.devtools.process import free_port, tail
from fraudwatch.errors import FraudwatchError

logger = logging.getLogger(__name__)

SERVER_USER = "postgres"
_SEARCH_GLOBS = (
    "/usr/lib/postgresql/*/bin",
    "/usr/local/pgsql*/bin",
    "/opt/homebrew/opt/postgresql*/bin",
)


class PostgresUnavailable(FraudwatchError):
    """The PostgreSQL server binaries are missing or the server would not start."""

    code = "postgres_unavailable"


def _version_key(path: Path) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", str(path))
    return tuple(int(n) for n in numbers)


def find_bindir() -> Path:
    """Where `initdb`, `pg_ctl` and `postgres` are: pg_config's answer, else the newest found."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(Path(out.stdout.strip()))
    for pattern in _SEARCH_GLOBS:
        root = Path("/")
        found = sorted(root.glob(pattern.lstrip("/")), key=_version_key, reverse=True)
        candidates.extend(found)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install the "
        "postgresql server package (e.g. `apt-get install postgresql`) or set "
        "FRAUDWATCH_TEST_POSTGRES_URL to an existing server"
    )


def _as_server_user(command: list[str]) -> list[str]:
    """Prefix a command so it runs as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SERVER_USER, "--", *command]
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [
            setpriv,
            f"--reuid={SERVER_USER}",
            f"--regid={SERVER_USER}",
            "--init-groups",
            *command,
        ]
    raise PostgresUnavailable("running as root but neither runuser nor setpriv is available")


def _run(command: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _as_server_user(command), capture_output=True, text=True, timeout=timeout, check=False
    )


def _prepare_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="fraudwatch-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable(
                f"running as root, but there is no {SERVER_USER!r} system user to run the server"
            ) from exc
        os.chown(root, user.pw_uid, user.pw_gid)
    root.chmod(0o700)
    return root


def _server_options(port: int, socket_dir: Path, shared_buffers: str, durable: bool) -> str:
    safety = "on" if durable else "off"
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(socket_dir),
        "fsync": safety,
        "synchronous_commit": safety,
        "full_page_writes": safety,
        "shared_buffers": shared_buffers,
        "max_connections": "60",
        "max_wal_size": "2GB",
        "timezone": "UTC",
    }
    return " ".join(f"-c {key}={shlex.quote(value)}" for key, value in settings.items())


def _start(
    bindir: Path, data: Path, log: Path, shared_buffers: str, durable: bool, timeout: float
) -> int:
    """Start the server on a free port (retrying if another process takes it first)."""
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        options = _server_options(port, data.parent, shared_buffers, durable)
        started = _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                options,
                "start",
            ],
            timeout=timeout + 10,
        )
        if started.returncode == 0:
            return port
        last_error = (started.stderr or started.stdout).strip()
    raise PostgresUnavailable(f"PostgreSQL did not start: {last_error}\n{tail(log)}")


def _stop(bindir: Path, data: Path) -> None:
    stopped = _run(
        [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], timeout=60
    )
    if stopped.returncode == 0:
        return
    pid_file = data / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        logger.warning("pg_ctl stop failed (%s); killed postmaster %d", stopped.stderr.strip(), pid)


@contextlib.contextmanager
def throwaway_postgres(
    *, shared_buffers: str = "32MB", durable: bool = False, startup_timeout: float = 60.0
) -> Iterator[str]:
    """Start a temporary PostgreSQL cluster and yield `postgresql://postgres@127.0.0.1:PORT/postgres`.

    `durable` keeps PostgreSQL's own safety settings (fsync, synchronous commit, full-page
    writes) instead of turning them off for speed: for benchmarks of durable writes.

    The cluster (data, socket, log) lives in one temporary directory removed on exit, whatever
    happens inside the block. Raises `PostgresUnavailable` when it cannot be created or started.
    """
    bindir = find_bindir()
    root = _prepare_root()
    data = root / "data"
    log = root / "server.log"
    started = False
    try:
        init = _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            timeout=startup_timeout + 60,
        )
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {(init.stderr or init.stdout).strip()}")
        port = _start(bindir, data, log, shared_buffers, durable, startup_timeout)
        started = True
        _wait_accepting(port, startup_timeout)
        logger.info("throwaway PostgreSQL (%s) on 127.0.0.1:%d", bindir, port)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            _stop(bindir, data)
        shutil.rmtree(root, ignore_errors=True)


def _wait_accepting(port: int, timeout: float) -> None:
    """pg_ctl -w waits for the postmaster; also wait until TCP connections are accepted."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise PostgresUnavailable(
                    f"PostgreSQL on port {port} accepts no connection"
                ) from exc
            time.sleep(0.05)


def main() -> None:  # pragma: no cover - interactive helper
    logging.basicConfig(level=logging.INFO)
    with throwaway_postgres() as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":  # pragma: no cover
    main()
