"""What every throwaway server shares: a free loopback port, starting until it answers, stopping."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 15) -> str:
    """The end of a log file, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def launch(
    command: Callable[[int], list[str]],
    ready: Callable[[int], bool],
    *,
    timeout: float,
    output: Path | None = None,
    cwd: Path | None = None,
    poll_s: float = 0.05,
) -> tuple[subprocess.Popen[bytes], int] | None:
    """Start `command(port)` on a free port until `ready(port)`; retried on another port when
    the process dies (another process took the port first). None when it never got ready."""
    for _attempt in range(3):
        port = free_port()
        out = output.open("ab") if output is not None else None
        try:
            process = subprocess.Popen(
                command(port),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out if out is not None else subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        finally:
            if out is not None:
                out.close()
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if ready(port):
                return process, port
            time.sleep(poll_s)
        stop(process, command(port)[0])
        if time.monotonic() >= deadline:
            break
    return None


def stop(process: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        logger.warning("%s (pid %d) ignored SIGTERM; killing it", name, process.pid)
        process.kill()
        process.wait(timeout=10)
