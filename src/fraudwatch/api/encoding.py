"""Compressed request bodies: `Content-Encoding: gzip` or `deflate`, on every route.

A client sending large batches may compress them. The body is decompressed in front of the
routes (the scoring fast path and FastAPI alike), bounded by the same size limit after
decompressing as a plain body (a small bomb cannot fill the memory), and the request goes on
as if it had been sent plain. A coding we do not know gets 415 with the codings we accept
(`Accept-Encoding`, RFC 9110 §12.5.3), a body that does not decompress gets 400 saying why:
never a misleading "not valid JSON".
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Reply = tuple[int, str, str, list[tuple[bytes, bytes]]]  # status, title, detail, extra headers

_WBITS = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}
ACCEPTED = b"gzip, deflate"


def coding_of(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The request's content coding, lower-cased; None when it has none (or `identity`)."""
    for name, value in headers:
        if name == b"content-encoding":
            coding = value.strip().lower()
            return None if coding in (b"", b"identity") else coding
    return None


def decompress(coding: bytes, body: bytes, limit: int) -> bytes | Reply:
    """`body` decoded from `coding`, or the reply that refuses it: 415 for a coding other than
    gzip and deflate (zlib-wrapped, or raw as some clients send it), 400 for a body that does
    not decompress or is cut short, 413 for one larger than `limit` bytes decompressed. An
    empty body stays empty whatever the coding (some clients send the header on every request,
    a GET included)."""
    if not body:
        return body
    wbits = _WBITS.get(coding)
    if wbits is None:
        detail = (
            f"Content-Encoding {coding.decode('latin-1')!r} is not supported: send the body "
            "uncompressed, or compressed with gzip or deflate"
        )
        return 415, "unsupported media type", detail, [(b"accept-encoding", ACCEPTED)]
    try:
        return _inflate(body, wbits, limit)
    except zlib.error as exc:
        if coding != b"deflate":
            return 400, "invalid request", f"the body is not valid {coding.decode()}: {exc}", []
    try:  # raw deflate, without the zlib header
        return _inflate(body, -zlib.MAX_WBITS, limit)
    except zlib.error as exc:
        return 400, "invalid request", f"the body is not valid deflate: {exc}", []


def _inflate(body: bytes, wbits: int, limit: int) -> bytes | Reply:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, limit + 1)
    if len(out) > limit:
        detail = f"the body is larger than {limit // (1024 * 1024)} MiB decompressed"
        return 413, "invalid request", detail, []
    if not inflater.eof:
        raise zlib.error("the compressed data ends early")
    if inflater.unused_data:
        raise zlib.error("data follows the end of the compressed stream")
    return out


def plain_request(scope: Scope, body: bytes, receive: Receive) -> tuple[Scope, Receive]:
    """The request as if `body` had been sent uncompressed: its headers without the coding and
    with the new length; its first message the whole body, then the connection's own."""
    headers = [
        (name, value)
        for name, value in scope["headers"]
        if name not in (b"content-encoding", b"content-length", b"transfer-encoding")
    ]
    headers.append((b"content-length", str(len(body)).encode()))
    sent = False

    async def once() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return {**scope, "headers": headers}, once
