"""Compressed request bodies (`api/encoding.py`): gzip and deflate decoded on every route, any
other coding refused with 415 and what we accept, a broken or oversized body refused saying
why."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from fastapi.testclient import TestClient

from fraudwatch.api import fastpath
from fraudwatch.api.encoding import decompress
from fraudwatch.control.repository import Role
from tests.api.test_api import Keys, tx

SCORE, BATCH = "/v1/transactions/score", "/v1/transactions/score:batch"


def _headers(keys: Keys, coding: str) -> dict[str, str]:
    return {**keys[Role.SERVICE], "Content-Type": "application/json", "Content-Encoding": coding}


def test_gzip_and_deflate_bodies_are_scored_like_plain_ones(client: TestClient, keys: Keys) -> None:
    plain = client.post(SCORE, json=tx(1), headers=keys[Role.SERVICE]).json()
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bodies = {
        "gzip": gzip.compress(json.dumps(tx(2)).encode()),
        "deflate": zlib.compress(json.dumps(tx(3)).encode()),  # zlib-wrapped, as RFC 9110 says
        "Deflate": raw_deflate.compress(json.dumps(tx(4)).encode()) + raw_deflate.flush(),
    }
    for at, (coding, body) in enumerate(bodies.items(), 2):
        answer = client.post(SCORE, content=body, headers=_headers(keys, coding))
        assert answer.status_code == 200, answer.text
        assert answer.json()["transaction_id"] == f"tx-{at}"
        assert answer.json()["ruleset_version"] == plain["ruleset_version"]
    batch = gzip.compress(json.dumps({"transactions": [tx(5), tx(6)]}).encode())
    answer = client.post(BATCH, content=batch, headers=_headers(keys, "gzip"))
    assert [d["transaction_id"] for d in answer.json()["decisions"]] == ["tx-5", "tx-6"]
    # A route of the framework's gets the body decompressed too.
    labels = gzip.compress(
        json.dumps(
            {"labels": [{"transaction_id": "tx-5", "is_fraud": True, "source": "chargeback",
                         "event_time": tx(5)["event_time"], "known_at": tx(5)["event_time"]}]}
        ).encode()
    )  # fmt: skip
    answer = client.post("/v1/labels", content=labels, headers=_headers(keys, "gzip"))
    assert answer.status_code < 300, answer.text


def test_an_unknown_coding_or_a_broken_body_is_refused_saying_why(
    client: TestClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.dumps(tx(1)).encode()
    refused = client.post(SCORE, content=body, headers=_headers(keys, "br"))
    assert refused.status_code == 415 and refused.headers["accept-encoding"] == "gzip, deflate"
    assert "'br' is not supported" in refused.json()["detail"]
    assert client.post("/v1/labels", content=body, headers=_headers(keys, "br")).status_code == 415
    for coding, broken in (
        ("gzip", body),  # not compressed at all
        ("gzip", gzip.compress(body)[:-12]),  # cut short
        ("gzip", gzip.compress(body) + b"tail"),
        ("deflate", b"\x00garbage"),
    ):
        answer = client.post(SCORE, content=broken, headers=_headers(keys, coding))
        assert answer.status_code == 400, (coding, broken)
        assert answer.json()["detail"].startswith(f"the body is not valid {coding}")
    monkeypatch.setattr(fastpath, "MAX_BODY", 1024 * 1024)
    bomb = gzip.compress(b" " * (1024 * 1024 + 1))  # 1 KiB that would be over a MiB
    answer = client.post(BATCH, content=bomb, headers=_headers(keys, "gzip"))
    assert answer.status_code == 413 and "1 MiB decompressed" in answer.json()["detail"]
    identity = client.post(SCORE, content=body, headers=_headers(keys, "identity"))
    assert identity.status_code == 200
    # An empty body has nothing to decode: a GET with the header is answered as usual.
    for coding in ("gzip", "br"):
        assert client.get("/healthz", headers={"Content-Encoding": coding}).status_code == 200


def test_decompress_bounds_the_output_exactly() -> None:
    body = gzip.compress(b"x" * 100)
    assert decompress(b"gzip", body, 100) == b"x" * 100
    refused = decompress(b"gzip", body, 99)
    assert isinstance(refused, tuple) and refused[0] == 413
