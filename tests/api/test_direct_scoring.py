"""Single scoring answered from the HTTP protocol (`protocol.scoring_protocol`), as `fraudwatch
serve` runs it: the same answers as the ASGI route, in order on a keep-alive connection, and
uvicorn's path for what it does not take."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from fraudwatch.api.app import create_server
from fraudwatch.api.fastpath import FastScoring
from fraudwatch.api.protocol import scoring_protocol
from fraudwatch.bootstrap import Container
from fraudwatch.control.repository import Role
from fraudwatch.devtools.process import free_port
from tests.api.test_api import Keys, tx

SINGLE = "/v1/transactions/score"


class Served:
    def __init__(self, port: int, server: FastScoring) -> None:
        self.port = port
        self.server = server
        self.direct = 0  # requests answered by the protocol, not by an ASGI task


@pytest.fixture
def served(container: Container, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    from fraudwatch.scoring.service import ScoringService

    server = create_server(ScoringService(container), poll_s=0.1)
    served = Served(free_port(), server)
    answer = FastScoring.score_single_now

    def counted(self: FastScoring, *args: Any) -> None:
        served.direct += 1
        answer(self, *args)

    monkeypatch.setattr(FastScoring, "score_single_now", counted)
    config = uvicorn.Config(
        server,
        host="127.0.0.1",
        port=served.port,
        http=scoring_protocol(server),
        log_level="warning",
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if uvicorn_server.started:
            break
        time.sleep(0.05)
    assert uvicorn_server.started
    yield served
    uvicorn_server.should_exit = True
    thread.join(20)


def _raw(port: int, data: bytes, responses: int) -> list[tuple[str, dict[str, str], bytes]]:
    """Send `data` on one connection; read `responses` responses (status line, headers,
    content-length body)."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        buffer = b""
        while len(out) < responses:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                assert chunk, f"connection closed after {len(out)} responses"
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(headers["content-length"])
            while len(buffer) < length:
                buffer += sock.recv(65536)
            out.append((lines[0], headers, buffer[:length]))
            buffer = buffer[length:]
    return out


def _post(body: bytes, key: str, *extra: str) -> bytes:
    head = [
        f"POST {SINGLE} HTTP/1.1",
        "host: test",
        f"authorization: {key}",
        "content-type: application/json",
        *extra,
    ]
    if not any(line.startswith("transfer-encoding") for line in extra):
        head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_the_protocol_answers_single_scoring_like_the_route(served: Served, keys: Keys) -> None:
    service = keys[Role.SERVICE]
    with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", timeout=10) as client:
        first = client.post(SINGLE, json=tx(1), headers=service)
        assert first.status_code == 200
        assert first.headers["content-type"] == "application/json"
        assert first.headers["server"] == "uvicorn" and "date" in first.headers
        decision = first.json()
        assert decision["transaction_id"] == "tx-1"
        assert decision["outcome"] in {"approve", "review", "step_up", "block"}
        again = client.post(SINGLE, json={**tx(1), "amount": "99.00"}, headers=service)
        assert again.json() == decision  # idempotent: the first decision
        stored = client.get("/v1/decisions/tx-1", headers=keys[Role.VIEWER])  # ASGI route
        assert stored.status_code == 200 and stored.json()["transaction_id"] == "tx-1"

        missing = client.post(SINGLE, json=tx(2))
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.headers["content-type"] == "application/problem+json"
        viewer = client.post(SINGLE, json=tx(2), headers=keys[Role.VIEWER])
        assert viewer.status_code == 403

        bad = client.post(SINGLE, json=tx(2, card="4111111111111112"), headers=service)
        assert bad.status_code == 422
        assert bad.json()["field"] == "card.number" and "Luhn" in bad.json()["detail"]
        broken = client.post(SINGLE, content=b"{not json", headers=service)
        assert broken.status_code == 422 and "not valid JSON" in broken.json()["detail"]
    assert served.direct == 6  # every single scoring request above took the protocol's path
    assert served.server.batcher.scored == 2  # tx-1, twice: the second gets the first decision


def test_pipelined_requests_are_answered_in_order(served: Served, keys: Keys) -> None:
    key = keys[Role.SERVICE]["Authorization"]
    requests = [_post(json.dumps(tx(i, minutes=i)).encode(), key) for i in range(5)]
    requests.insert(2, _post(b"{broken", key))
    requests.insert(4, f"GET /v1/decisions/tx-0 HTTP/1.1\r\nauthorization: {key}\r\n\r\n".encode())
    answers = _raw(served.port, b"".join(requests), len(requests))
    statuses = [int(status.split()[1]) for status, _, _ in answers]
    assert statuses == [200, 200, 422, 200, 200, 200, 200]
    ids = [json.loads(body).get("transaction_id") for _, _, body in answers]
    assert ids == ["tx-0", "tx-1", None, "tx-2", "tx-0", "tx-3", "tx-4"]  # the GET: tx-0's


def test_connection_close_is_honoured(served: Served, keys: Keys) -> None:
    key = keys[Role.SERVICE]["Authorization"]
    request = _post(json.dumps(tx(7)).encode(), key, "connection: close")
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):  # until the server closes
            received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head
    assert json.loads(body)["transaction_id"] == "tx-7"


def test_what_the_protocol_does_not_take_goes_to_uvicorn(served: Served, keys: Keys) -> None:
    key = keys[Role.SERVICE]["Authorization"]
    body = json.dumps(tx(8)).encode()
    chunked = _post(
        f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n", key, "transfer-encoding: chunked"
    )
    [(status, _, answer)] = _raw(served.port, chunked, 1)
    assert status.startswith("HTTP/1.1 200") and json.loads(answer)["transaction_id"] == "tx-8"
    large = json.dumps({**tx(9), "attributes": {"note": "x" * 70_000}}).encode()
    [(status, _, answer)] = _raw(served.port, _post(large, key), 1)
    assert status.startswith("HTTP/1.1 ")  # answered (by the route), whatever it thinks of it
    assert served.direct == 0


def test_a_compressed_single_request_is_decoded_before_it_is_scored(
    served: Served, keys: Keys
) -> None:
    """The protocol leaves a compressed body to the ASGI path, which decompresses it."""
    import gzip

    key = keys[Role.SERVICE]["Authorization"]
    body = gzip.compress(json.dumps(tx(10)).encode())
    [(status, _, answer)] = _raw(served.port, _post(body, key, "content-encoding: gzip"), 1)
    assert status.startswith("HTTP/1.1 200") and json.loads(answer)["transaction_id"] == "tx-10"
    assert served.direct == 0
