"""The hot path without the framework: POST /v1/transactions/score and /score:batch.

FastAPI costs about 100 µs per request in middleware, routing and dependency resolution — as
much as the scoring itself. These two routes are served by this ASGI layer in front of it, with
the same behaviour (API key and role check, 422 problem+json naming the field, idempotency,
metrics) and documented in the same OpenAPI document (`app._openapi`); every other route goes on
to FastAPI.

Single-transaction requests that arrive together are scored together (`Batcher`): the feature
kernel and the model are vectorised and their per-call overhead is most of a lone transaction's
cost (about 740 µs of CPU alone, 210 µs each in a group of 11: docs/api.md), so under load the
throughput of single requests approaches that of batches, while a lone request is scored at
once — it never waits for company.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import msgspec

from fraudwatch.api.auth import SCORE, Authenticator, Denied, identify
from fraudwatch.api.encoding import coding_of, decompress, plain_request
from fraudwatch.api.metrics import Metrics
from fraudwatch.api.scoring import ValidationProblem, parse_one, score_many
from fraudwatch.decisions.model import Decision
from fraudwatch.events.model import Transaction
from fraudwatch.scoring.service import ScoringService
from fraudwatch.users.service import UserService

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SINGLE = "/v1/transactions/score"
BATCH = "/v1/transactions/score:batch"
MAX_BODY = 64 * 1024 * 1024
_json = msgspec.json.Encoder()
_JSON = JSON_HEADERS = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", b"application/problem+json")]
Reply = tuple[int, bytes, list[tuple[bytes, bytes]]]  # status, body, headers


class FastScoring:
    def __init__(
        self,
        app: ASGIApp,
        service: ScoringService,
        authenticate: Authenticator,
        users: UserService,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.service = service
        self.authenticate = authenticate
        self.users = users
        self.metrics = metrics
        self.batcher = Batcher(
            service, metrics=metrics, linger_s=service.app.settings.score_linger_ms / 1000
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (coding := coding_of(scope["headers"])) is not None:
            body = await _body(receive)  # compressed: every route gets it decompressed
            plain = _too_large() if body is None else decompress(coding, body, MAX_BODY)
            if not isinstance(plain, bytes):
                status, title, detail, extra = plain
                await _send(send, status, _problem(status, title, detail), [*_PROBLEM, *extra])
                return
            scope, receive = plain_request(scope, plain, receive)
        path = scope.get("path")
        if scope["type"] != "http" or path not in (SINGLE, BATCH):
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _send(send, 405, _problem(405, "method not allowed", "use POST"), _PROBLEM)
            return
        status, payload, headers = self._authorise(scope)
        if status == 200:
            body = await _body(receive)
            if path == SINGLE and body is not None:
                status, payload, headers = await self._score_single(body)
            else:
                status, payload, headers = self._score(path, body)
        await _send(send, status, payload, headers)

    def _authorise(self, scope: Scope) -> Reply:
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        try:
            identify(self.authenticate, self.users, header.decode("latin-1"), SCORE)
        except Denied as exc:
            extra = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else []
            return exc.status, _problem(exc.status, "error", exc.detail), [*_PROBLEM, *extra]
        return 200, b"", _JSON

    async def _score_single(self, body: bytes) -> Reply:
        tx = self._parse(body)
        if not isinstance(tx, Transaction):
            return tx
        try:
            decision = await self.batcher.score(tx)
        except Exception:  # logged once per batch by the batcher
            return _failed()
        return self._decided(decision)

    def score_single_now(
        self, headers: Iterable[tuple[bytes, bytes]], body: bytes, reply: Callable[[Reply], None]
    ) -> None:
        """POST /v1/transactions/score without the ASGI round trip (`protocol.py`): the same
        checks and answers as `__call__`, the reply handed to `reply` (later, once the batch
        the transaction joined is scored)."""
        try:
            answer = self._authorise({"headers": headers})
            if answer[0] == 200:
                tx = self._parse(body)
                if isinstance(tx, Transaction):
                    self.batcher.enqueue(tx).add_done_callback(
                        lambda done: reply(
                            _failed() if done.exception() else self._decided(done.result())
                        )
                    )
                    return
                answer = tx
        except Exception:  # an answer for the client, the details for the log (never the body)
            log.exception("scoring failed")
            answer = _failed()
        reply(answer)

    def _parse(self, body: bytes) -> Transaction | Reply:
        try:
            return parse_one(self.service, body)
        except ValidationProblem as exc:
            return 422, _problem(422, "invalid request", exc.message, field=exc.field), _PROBLEM

    def _decided(self, decision: Decision) -> Reply:
        return 200, _json.encode(decision), _JSON  # the batcher counted it, with its batch

    def _score(self, path: str, body: bytes | None) -> Reply:
        if body is None:
            status, title, detail, _ = _too_large()
            return status, _problem(status, title, detail), _PROBLEM
        try:
            decisions = score_many(self.service, body)
            self.metrics.observe(decisions)
            return 200, _json.encode({"decisions": decisions}), _JSON
        except ValidationProblem as exc:
            return 422, _problem(422, "invalid request", exc.message, field=exc.field), _PROBLEM
        except Exception:  # an answer for the client, the details for the log (never the body)
            log.exception("scoring failed")
            return _failed()


class Batcher:
    """Scores the single transactions waiting together as one batch.

    The first request to arrive schedules a run with `call_soon`, after the requests the event
    loop has already read; every request that arrives before the run joins it. While a batch is
    scored (synchronously, on the loop: scoring holds the GIL anyway), more requests queue up in
    the sockets, and form the next batch. So a batch is as large as the load makes it, up to
    `max_batch` per run, and an idle server scores a request alone without delay. Once requests
    come together (the last batch held more than one), the run waits `linger_s` for more
    (`score_linger_ms`): at 5,000 requests/s, groups of 10-17 became groups of 22-29, and the
    server's CPU per request 167-182 µs instead of 194-201 (docs/api.md). Decisions are
    exactly those of one-by-one scoring in arrival order (the pipeline orders by event time
    within a batch, as it does across requests)."""

    def __init__(
        self,
        service: ScoringService,
        max_batch: int = 256,
        metrics: Metrics | None = None,
        linger_s: float = 0.0,
    ) -> None:
        self.service = service
        self.max_batch = max_batch
        self.metrics = metrics
        self.linger_s = linger_s
        self._waiting: list[tuple[Transaction, asyncio.Future[Decision]]] = []
        self._scheduled = False
        self._last = 0  # the size of the last batch
        self.batches = 0
        self.scored = 0

    async def score(self, tx: Transaction) -> Decision:
        return await self.enqueue(tx)

    def enqueue(self, tx: Transaction) -> asyncio.Future[Decision]:
        """The decision of `tx` to come, with the next run's batch (inside a running loop)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        self._waiting.append((tx, future))
        if not self._scheduled:
            self._scheduled = True
            if self.linger_s and self._last > 1:
                loop.call_later(self.linger_s, self._run)
            else:
                loop.call_soon(self._run)
        return future

    def _run(self) -> None:
        batch = self._waiting[: self.max_batch]
        del self._waiting[: self.max_batch]
        self._last = len(batch)
        if self._waiting:  # the rest in the next run, after the loop has served the sockets
            asyncio.get_running_loop().call_soon(self._run)
        else:
            self._scheduled = False
        try:
            decisions = self.service.score([tx for tx, _ in batch])
        except Exception as exc:
            log.exception("scoring a batch of %d single transactions failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.scored += len(batch)
        if self.metrics is not None:
            self.metrics.single_batch.observe(len(batch))
            self.metrics.observe(decisions)
        for (_, future), decision in zip(batch, decisions, strict=True):
            if not future.done():  # the client may have gone
                future.set_result(decision)


def _failed() -> Reply:
    return 500, _problem(500, "internal error", "scoring failed; see the server log"), _PROBLEM


def _too_large() -> tuple[int, str, str, list[tuple[bytes, bytes]]]:
    return 413, "invalid request", f"the body is larger than {MAX_BODY // (1024 * 1024)} MiB", []


def _problem(status: int, title: str, detail: str, **extra: Any) -> bytes:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return _json.encode(body)


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(
    send: Send, status: int, payload: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    length = (b"content-length", str(len(payload)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": payload})
