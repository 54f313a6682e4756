"""uvicorn's HTTP protocol, with the writes of one turn of the event loop sent together, and
single-transaction scoring answered from the protocol itself.

uvicorn writes a response in two calls to the transport: the status line and headers at
`http.response.start`, then the body. Each is a `send` on the socket at once, so a small
response costs two system calls and reaches the client as two TCP segments, two reads.
`CoalescingHttpToolsProtocol` hands uvicorn a transport that gathers the writes made during one
turn of the loop and sends them in one call at the end of the turn (`call_soon`): the same
bytes, in the same order, one send per response. Everything else (flow control, closing, the
upgrade to a WebSocket) is the transport's own. Bare uvicorn spends 10-14 % less CPU per request
with it; in the scoring server, where scoring is most of a request, the saving is within the
noise of a measurement (docs/benchmarks.md).

`scoring_protocol(server)` goes one step further for POST /v1/transactions/score, the route a
payment flow calls once per transaction: the request is checked, parsed and queued for scoring
as soon as its body is complete, and the answer written when its batch is decided, without the
ASGI task, the receive/send messages and the middleware in between (`FastScoring.
score_single_now` gives the same answers as the ASGI route). Everything else, and a request it
would have to stream (no content-length, a body over 64 KiB, `Expect: 100-continue`), takes
uvicorn's path. Keep-alive, pipelined requests (answered in order) and shutdown are uvicorn's
own: the request has uvicorn's cycle object, completed as uvicorn completes it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from fraudwatch.api.fastpath import JSON_HEADERS, SINGLE, FastScoring, Reply


class CoalescingTransport:
    """A transport whose writes in one turn of the loop go out in one `write` of `transport`."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending is None:
            self._pending = [bytes(data)]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(bytes(data))

    def writelines(self, data: Any) -> None:
        for chunk in data:
            self.write(chunk)

    def flush(self) -> None:
        """Send what the turn wrote (called at the end of the turn, and before closing). If the
        connection was lost meanwhile there is no one to send it to: it is dropped, as uvicorn
        drops a response whose client has gone (a closed uvloop transport raises on write)."""
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        pending = sum(len(chunk) for chunk in self._pending) if self._pending else 0
        return pending + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `CoalescingTransport` (`uvicorn.run(http=...)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]


def scoring_protocol(server: FastScoring) -> type[CoalescingHttpToolsProtocol]:
    """The protocol class for `uvicorn.run(server, http=...)`, answering single scoring
    requests for `server` directly."""
    return type("ScoringHttpProtocol", (ScoringHttpProtocol,), {"scoring": server})


class ScoringHttpProtocol(CoalescingHttpToolsProtocol):
    scoring: FastScoring  # set by `scoring_protocol`
    _pending: RequestResponseCycle | None = None  # a direct request waiting for its body

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if app is self.app and _direct(cycle):
            if cycle.more_body:
                self._pending = cycle  # answered at on_message_complete
            else:  # a pipelined request, read whole while the one before was answered
                self._answer(cycle)
            return
        super()._start_asgi_task(cycle, app)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        cycle, self._pending = self._pending, None
        if cycle is not None:  # the current request: its body is whole now
            self._answer(cycle)

    def _answer(self, cycle: RequestResponseCycle) -> None:
        def reply(answer: Reply) -> None:
            if cycle.disconnected or cycle.response_complete:
                return  # the client has gone: nobody to answer, as uvicorn does
            status, body, headers = answer
            head = [self._head(status, headers), b"content-length: %d\r\n" % len(body)]
            if not cycle.keep_alive:
                head.append(b"connection: close\r\n")
            head += [b"\r\n", body]
            self.transport.write(b"".join(head))
            cycle.response_started = cycle.response_complete = True
            cycle.message_event.set()
            if not cycle.keep_alive:
                self.transport.close()
            cycle.on_response()  # uvicorn's: the next pipelined request, or the keep-alive timer

        self.scoring.score_single_now(cycle.scope["headers"], bytes(cycle.body), reply)

    def _head(self, status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
        """The status line and headers before `content-length`. A decision's (status 200, the
        JSON headers) is built once per second, when uvicorn renews its default headers (the
        date): most answers are decisions."""
        defaults = self.server_state.default_headers
        if status == 200 and headers is JSON_HEADERS:
            cached = _heads.get(id(defaults))
            if cached is not None and cached[0] is defaults:
                return cached[1]
        head = [STATUS_LINE[status]]
        for name, value in (*defaults, *headers):
            head += [name, b": ", value, b"\r\n"]
        joined = b"".join(head)
        if status == 200 and headers is JSON_HEADERS:
            _heads.clear()
            _heads[id(defaults)] = (defaults, joined)
        return joined


_heads: dict[int, tuple[list[tuple[bytes, bytes]], bytes]] = {}  # see `_head`


def _direct(cycle: RequestResponseCycle) -> bool:
    """A POST to the single scoring route with its whole body announced, small and plain."""
    scope = cycle.scope
    if scope["path"] != SINGLE or scope["method"] != "POST" or cycle.waiting_for_100_continue:
        return False
    length = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name in (b"transfer-encoding", b"content-encoding"):  # (FastScoring decodes it)
            return False
    return length is not None and length.isdigit() and int(length) <= HIGH_WATER_LIMIT
