"""The benchmark's open-loop load generator (`bench/openloop.c`) against a small HTTP server
on loopback: it sends the traffic file's lines as bodies at the offered rate, and measures each
latency from the time its request was due, so waiting for a busy connection counts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

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


class Server:
    """Answers every POST after `delay_s` with `status`; keeps the bodies it got, in order."""

    def __init__(self, delay_s: float = 0.0, status: int = 200) -> None:
        self.delay_s = delay_s
        self.status = status
        self.bodies: list[bytes] = []
        self.paths: set[str] = set()
        self.authorizations: set[str] = set()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive
            disable_nagle_algorithm = True  # the head and the body go out as written

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.bodies.append(body)
                    outer.paths.add(self.path)
                    outer.authorizations.add(self.headers["Authorization"])
                time.sleep(outer.delay_s)
                answer = b'{"ok": true}'
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def traffic(tmp_path: Path) -> Path:
    path = tmp_path / "traffic.jsonl"
    path.write_text(
        "".join(json.dumps({"transaction_id": f"tx-{i}"}) + "\n" for i in range(1, 501))
    )
    return path


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
    with Server(delay_s=0.02) as server:
        started = time.perf_counter()
        result = run(openloop, server.port, traffic, first=11, batch=1, rate=200, seconds=1,
                     connections=8)  # fmt: skip
        took = time.perf_counter() - started
    assert (result["requests"], result["answered"], result["errors"]) == (200, 200, 0)
    assert 0.95 < took < 3.0  # the sends are spread over the second, not made at once
    assert 20.0 <= result["p50"] < 200.0  # at least the server's delay
    # every line from the 11th, once, as the body of one request, with the key and the path
    assert sorted(json.loads(b)["transaction_id"] for b in server.bodies) == sorted(
        f"tx-{i}" for i in range(11, 211)
    )
    assert server.authorizations == {f"Bearer {KEY}"}
    assert server.paths == {"/v1/score"}


def test_batches_join_consecutive_lines(openloop: Path, traffic: Path) -> None:
    with Server() as server:
        result = run(openloop, server.port, traffic, first=1, batch=3, rate=20, seconds=1,
                     connections=2)  # fmt: skip
    assert (result["requests"], result["answered"], result["errors"]) == (20, 20, 0)
    batches = sorted(
        (json.loads(b)["transactions"] for b in server.bodies),
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
    with Server(delay_s=0.05) as server:
        result = run(openloop, server.port, traffic, first=1, batch=1, rate=100, seconds=0.5,
                     connections=1)  # fmt: skip
    assert (result["requests"], result["answered"], result["errors"]) == (50, 50, 0)
    assert result["max"] > 1500.0
    assert result["p50"] > 500.0
    assert result["late_sends"] >= 40
    assert result["answered_rate"] < 30.0  # what the server managed, not what was offered


def test_error_answers_are_counted(openloop: Path, traffic: Path) -> None:
    with Server(status=500) as server:
        result = run(openloop, server.port, traffic, first=1, batch=1, rate=50, seconds=0.2,
                     connections=2)  # fmt: skip
    assert (result["requests"], result["answered"], result["errors"]) == (10, 0, 10)
