"""The benchmark's open-loop load generator (`bench/openloop.c`) against a small HTTP server
on loopback: it sends the traffic file's lines as bodies at the offered rate, and measures each
latency from the time its request was due, so waiting for a busy connection counts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.receivers import Receiver

SOURCE = Path(__file__).parents[1] / "bench" / "openloop.c"
KEY = "fw_test_key"


@pytest.fixture(scope="module")
def openloop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no C compiler to build bench/openloop.c")
        pytest.skip("no C compiler")
    binary = tmp_path_factory.mktemp("openloop") / "openloop"
    subprocess.run([compiler, "-O2", "-o", str(binary), str(SOURCE)], check=True)
    return binary


@pytest.fixture
def traffic(tmp_path: Path) -> Path:
    path = tmp_path / "traffic.jsonl"
    path.write_text(
        "".join(json.dumps({"transaction_id": f"tx-{i}"}) + "\n" for i in range(1, 501))
    )
    return path


@contextlib.contextmanager
def receiver(delay_s: float = 0.0) -> Iterator[Receiver]:
    server = Receiver(keep_alive=True, delay_s=delay_s)
    try:
        yield server
    finally:
        server.close()


def run(
    binary: Path, port: int, traffic: Path, *, first: int, batch: int, rate: float,
    seconds: float, connections: int,
) -> dict[str, float]:  # fmt: skip
    out = subprocess.run(
        [str(binary), "127.0.0.1", str(port), "/v1/score", str(traffic), str(first), str(batch),
         str(rate), str(seconds), str(connections)],
        env={"OPENLOOP_KEY": KEY}, check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


def test_sends_the_traffic_at_the_offered_rate(openloop: Path, traffic: Path) -> None:
    with receiver(delay_s=0.02) as server:
        started = time.perf_counter()
        result = run(openloop, server.port, traffic, first=11, batch=1, rate=200, seconds=1,
                     connections=8)  # fmt: skip
        took = time.perf_counter() - started
    assert (result["requests"], result["answered"], result["errors"]) == (200, 200, 0)
    assert 0.95 < took < 3.0  # the sends are spread over the second, not made at once
    assert 20.0 <= result["p50"] < 200.0  # at least the server's delay
    # every line from the 11th, once, as the body of one request, with the key and the path
    assert sorted(json.loads(r["body"])["transaction_id"] for r in server.requests) == sorted(
        f"tx-{i}" for i in range(11, 211)
    )
    assert {r["headers"]["Authorization"] for r in server.requests} == {f"Bearer {KEY}"}
    assert {r["path"] for r in server.requests} == {"/v1/score"}


def test_batches_join_consecutive_lines(openloop: Path, traffic: Path) -> None:
    with receiver() as server:
        result = run(openloop, server.port, traffic, first=1, batch=3, rate=20, seconds=1,
                     connections=2)  # fmt: skip
    assert (result["requests"], result["answered"], result["errors"]) == (20, 20, 0)
    batches = sorted(
        (json.loads(r["body"])["transactions"] for r in server.requests),
        key=lambda items: int(items[0]["transaction_id"].split("-")[1]),
    )
    assert [[t["transaction_id"] for t in b] for b in batches[:2]] == [
        ["tx-1", "tx-2", "tx-3"],
        ["tx-4", "tx-5", "tx-6"],
    ]
    assert len({t["transaction_id"] for b in batches for t in b}) == 60


def test_waiting_for_a_busy_connection_counts_in_the_latency(openloop: Path, traffic: Path) -> None:
    """One connection and a server that takes 50 ms: 20 answers a second for 50 requests
    offered in half a second. A closed-loop client would report 50 ms each; the last request
    here was due at 0.49 s and answered at about 2.5 s."""
    with receiver(delay_s=0.05) as server:
        result = run(openloop, server.port, traffic, first=1, batch=1, rate=100, seconds=0.5,
                     connections=1)  # fmt: skip
    assert (result["requests"], result["answered"], result["errors"]) == (50, 50, 0)
    assert result["max"] > 1500.0
    assert result["p50"] > 500.0
    assert result["late_sends"] >= 40
    assert result["answered_rate"] < 30.0  # what the server managed, not what was offered
    # Falling behind: the last quarter waited far longer than the first.
    assert result["last_quarter_p50"] > result["first_quarter_p50"] + 1000.0


def test_a_server_that_keeps_up_answers_both_quarters_alike(openloop: Path, traffic: Path) -> None:
    with receiver(delay_s=0.01) as server:
        result = run(openloop, server.port, traffic, first=1, batch=1, rate=100, seconds=1,
                     connections=4)  # fmt: skip
    assert (result["requests"], result["answered"], result["errors"]) == (100, 100, 0)
    assert 10.0 <= result["first_quarter_p50"] < 100.0
    assert 10.0 <= result["last_quarter_p50"] < 100.0


def test_error_answers_are_counted(openloop: Path, traffic: Path) -> None:
    with receiver() as server:
        server.replies["/v1/score"] = (500, {"error": "down"})
        result = run(openloop, server.port, traffic, first=1, batch=1, rate=50, seconds=0.2,
                     connections=2)  # fmt: skip
    assert (result["requests"], result["answered"], result["errors"]) == (10, 0, 10)
