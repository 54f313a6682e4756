"""The HTTP protocol `fraudwatch serve` runs: uvicorn's, with one send per response."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fraudwatch.api.protocol import CoalescingHttpToolsProtocol, CoalescingTransport
from fraudwatch.devtools.process import free_port


class Recorder:
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.refused: list[bytes] = []  # written after close (uvloop's transport raises)
        self.closed = False

    def write(self, data: bytes) -> None:
        (self.refused if self.closed else self.writes).append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def test_the_writes_of_one_turn_go_out_together_in_order() -> None:
    async def main() -> Recorder:
        inner = Recorder()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(memoryview(b"body"))
        assert inner.writes == []  # not before the turn ends
        assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\n") + 4
        await asyncio.sleep(0)
        assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        transport.write(b"next")  # a later turn: a write of its own
        await asyncio.sleep(0)
        transport.writelines([b"a", b"b"])
        transport.close()  # what is pending goes out before the close
        assert inner.closed
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        assert transport.is_closing()  # the transport's own
        return inner

    inner = asyncio.run(main())
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next", b"ab"]
    assert inner.refused == []


def test_what_is_pending_when_the_connection_is_lost_is_dropped_not_raised() -> None:
    async def main() -> Recorder:
        inner = Recorder()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"a response")
        inner.close()  # the client went away before the end of the turn
        await asyncio.sleep(0)  # the flush
        return inner

    inner = asyncio.run(main())
    assert inner.writes == []
    assert inner.refused == []


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    size = int(scope["path"].strip("/") or 0)
    await receive()
    body = b"x" * size
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


SIZES = (0, 10, 64, 100)


class _Counting:
    """The socket's transport, counting the writes that reach it."""

    writes = 0

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        type(self).writes += 1
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _serve(protocol: type[HttpToolsProtocol]) -> tuple[int, int]:
    """For a uvicorn server on `protocol`: the writes that reached the socket's transport for
    `SIZES` small responses on one keep-alive connection, and their number; then a body larger
    than the socket's buffer, checked whole."""

    class Counted(protocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(_Counting(transport))

    _Counting.writes = 0
    port = free_port()
    config = uvicorn.Config(_app, host="127.0.0.1", port=port, http=Counted, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for size in SIZES:
                response = client.get(f"/{size}")
                assert response.status_code == 200
                assert response.content == b"x" * size
            small = _Counting.writes
            big = client.get("/5000000")
            assert big.status_code == 200
            assert big.content == b"x" * 5_000_000
    finally:
        server.should_exit = True
        thread.join(10)
    return small, len(SIZES)


def test_a_server_on_the_protocol_sends_each_response_in_one_write() -> None:
    writes, responses = _serve(CoalescingHttpToolsProtocol)
    assert writes == responses
    writes, responses = _serve(HttpToolsProtocol)  # uvicorn's own: head and body apart
    assert writes == 2 * responses
