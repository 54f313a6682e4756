"""The `documents` format: MongoDB-style exports, Extended JSON, path mappings, leftovers."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fraudwatch.errors import ConfigError
from fraudwatch.events.formats.base import IngestContext, Parsed, get_format
from fraudwatch.events.formats.mongojson import ArraySplitter, plain
from fraudwatch.events.model import Channel, Merchant, Transaction
from fraudwatch.security.tokens import CardTokenizer

PAN = "4111111111111111"


def doc(**changes: Any) -> dict[str, Any]:
    """A valid payment document; `a__b=value` sets a nested key, None removes it."""
    document: dict[str, Any] = {
        "_id": {"$oid": "6561f0c2a1b2c3d4e5f60718"},
        "createdAt": {"$date": "2026-11-23T10:00:00Z"},
        "payment": {
            "amount": {"$numberDecimal": "12.30"},
            "currency": "EUR",
            "card": {"number": PAN},
        },
    }
    for key, value in changes.items():
        target = document
        *parents, last = key.split("__")
        for parent in parents:
            target = target.setdefault(parent, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return document


def read(path: Path, ctx: IngestContext) -> list[Parsed]:
    return list(get_format("documents").read(str(path), ctx))


def write_lines(tmp_path: Path, *documents: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents))
    return path


def only_event(parsed: list[Parsed]) -> Transaction:
    assert len(parsed) == 1 and parsed[0].error is None, parsed
    event = parsed[0].events[0]
    assert isinstance(event, Transaction)
    return event


def only_error(parsed: list[Parsed]) -> tuple[str, str | None]:
    assert len(parsed) == 1 and parsed[0].error is not None, parsed
    return parsed[0].error.reason, parsed[0].error.field


def test_sample_array_export(data_dir: Path, ctx: IngestContext) -> None:
    parsed = read(data_dir / "formats" / "payments.mongo.json", ctx)
    assert [p.position for p in parsed] == [1, 2, 3]  # element numbers
    first, second = parsed[0].events[0], parsed[1].events[0]
    assert isinstance(first, Transaction) and isinstance(second, Transaction)
    assert first.transaction_id == "6561f0c2a1b2c3d4e5f60718"
    assert first.amount == Decimal("12.30") and first.channel == Channel.ECOMMERCE
    assert (first.customer_name, first.customer_email, first.billing_country) == (
        "Ana Lima", "ana@example.org", "PT"
    )  # fmt: skip
    assert first.merchant == Merchant(
        id="M-1", name="Livraria", mcc="5942", city="Lisboa", country="PT"
    )
    assert first.device is not None and first.device.user_agent == "Mozilla/5.0"
    assert first.attributes == {
        "payment.card.brand": "visa",
        "cart.items.0.sku": "B-1",
        "cart.items.0.qty": 2,
        "riskScore": 0.12,
    }
    assert second.event_time == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # $numberLong millis
    assert second.attributes == {}  # the CVV is never kept
    assert parsed[2].error is not None
    assert (parsed[2].error.reason, parsed[2].error.field) == ("missing_field", "payment.amount")


def test_json_lines_with_blank_lines_and_gzip(tmp_path: Path, ctx: IngestContext) -> None:
    text = f"\n{json.dumps(doc())}\n\n{json.dumps(doc(_id='b'))}\n"
    path = tmp_path / "export.json.gz"
    path.write_bytes(gzip.compress(text.encode()))
    parsed = read(path, ctx)
    assert [(p.position, p.error) for p in parsed] == [(2, None), (4, None)]


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"createdAt": None}, "missing_field", "createdAt"),
        ({"payment__currency": None}, "missing_field", "payment.currency"),
        ({"payment__amount": {"$numberDecimal": "12,30"}}, "bad_number", "payment.amount"),
        ({"payment__amount": "abc"}, "bad_number", "payment.amount"),
        ({"payment__amount": -1}, "bad_number", "payment.amount"),
        ({"payment__amount": {"value": 1}}, "bad_value", "payment.amount"),
        ({"createdAt": {"$date": "23.11.2026"}}, "bad_time", "createdAt"),
        ({"createdAt": "not a time"}, "bad_time", "createdAt"),
        ({"createdAt": 1700000000}, "bad_time", "createdAt"),
        ({"payment__currency": "ZZZ"}, "unknown_currency", "payment.currency"),
        ({"payment__card__number": "4111111111111112"}, "bad_card_number", "payment.card.number"),
        ({"payment__channel": "pigeon"}, "bad_value", "payment.channel"),
        ({"merchant__name": "no id"}, "missing_field", "merchant.id"),
        ({"device__ip": "10.0.0.300"}, "bad_value", "device.ip"),
        ({"customer__id": {"$numberLong": "x"}}, "bad_number", "customer.id"),
    ],
)
def test_bad_documents(
    tmp_path: Path, ctx: IngestContext, changes: dict[str, Any], reason: str, field: str
) -> None:
    assert only_error(read(write_lines(tmp_path, doc(**changes)), ctx)) == (reason, field)


def test_records_that_are_not_documents(tmp_path: Path, ctx: IngestContext) -> None:
    path = tmp_path / "export.json"
    path.write_text('{"_id": 1,\n[1, 2]\n"text"\n')
    parsed = read(path, ctx)
    assert [(p.position, p.error and p.error.reason) for p in parsed] == [
        (1, "unparseable"),
        (2, "unparseable"),
        (3, "unparseable"),
    ]
    assert read(write_lines(tmp_path, name="empty.json"), ctx) == []


def test_array_cut_short_or_followed_by_text(tmp_path: Path, ctx: IngestContext) -> None:
    path = tmp_path / "export.json"
    path.write_text("[" + json.dumps(doc()) + ", 42, " + json.dumps(doc(_id="x"))[:-5])
    parsed = read(path, ctx)
    assert [(p.position, p.error and p.error.reason) for p in parsed] == [
        (1, None),
        (2, "unparseable"),  # 42 is no document
        (3, "unparseable"),  # the cut element is reported, not lost
    ]
    path.write_text("[" + json.dumps(doc()) + "] trailing")
    assert [p.error and p.error.message for p in read(path, ctx)] == [
        None,
        "the JSON array is cut short or followed by text",
    ]


def test_extended_json_types() -> None:
    value = plain(
        {
            "oid": {"$oid": "abc"},
            "d1": {"$date": "2026-11-23T10:00:00+01:00"},
            "d2": {"$date": 0},
            "dec": {"$numberDecimal": "0.10"},
            "long": {"$numberLong": "9007199254740993"},
            "int": {"$numberInt": "7"},
            "dbl": {"$numberDouble": "-Infinity"},
            "uuid": {"$binary": {"base64": "AAECAwQFBgcICQoLDA0ODw==", "subType": "04"}},
            "bin": {"$binary": {"base64": "AAE=", "subType": "00"}},
            "ts": {"$timestamp": {"t": 1, "i": 2}},
            "min": {"$minKey": 1},
            "list": [{"$numberInt": "1"}],
            "two": {"$oid": "x", "other": 1},
        }
    )
    assert value == {
        "oid": "abc",
        "d1": datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        "d2": datetime(1970, 1, 1, tzinfo=UTC),
        "dec": Decimal("0.10"),
        "long": 9007199254740993,
        "int": 7,
        "dbl": float("-inf"),
        "uuid": "00010203-0405-0607-0809-0a0b0c0d0e0f",
        "bin": "AAE=",
        "ts": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        "min": None,
        "list": [1],
        "two": {"$oid": "x", "other": 1},
    }


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 100_000])
def test_array_splitter_is_indifferent_to_chunk_boundaries(size: int) -> None:
    text = ' [ {"a": "x,]}\\"\\\\", "b": [1, {"c": "["}]} ,\n{"d": 1}, 5, [], "s,]"]  '
    splitter = ArraySplitter()
    elements = [e for i in range(0, len(text), size) for e in splitter.feed(text[i : i + size])]
    assert elements == [
        '{"a": "x,]}\\"\\\\", "b": [1, {"c": "["}]}',
        '{"d": 1}',
        "5",
        "[]",
        '"s,]"',
    ]
    assert splitter.finish() is None


def test_mapping_file_overrides_defaults(tmp_path: Path, tokenizer: CardTokenizer) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "transaction_id: ref\namount_minor: total.cents\namount: null\n"
        "card_number: pm.pan\nmerchant_id: shop\nsource: origin\n"
    )
    document = {
        "ref": "R-1",
        "createdAt": "2026-11-23T10:00:00",
        "total": {"cents": 1999},
        "payment": {"currency": "EUR"},
        "pm": {"pan": PAN},
        "shop": 42,
        "origin": "web-shop",
        "_id": {"$oid": "ff"},
    }
    ctx = IngestContext(
        tokenizer=tokenizer, options={"mapping": str(mapping), "timezone": "Europe/Berlin"}
    )
    tx = only_event(read(write_lines(tmp_path, document), ctx))
    assert (tx.transaction_id, tx.amount, tx.source) == ("R-1", Decimal("19.99"), "web-shop")
    assert tx.event_time == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # naive: Berlin time
    assert tx.merchant == Merchant(id="42")
    assert tx.attributes == {"_id": "ff"}
    document["pm"] = {"pan": "4111111111111112"}
    assert only_error(read(write_lines(tmp_path, document), ctx)) == ("bad_card_number", "pm.pan")


def test_mapping_json_file_and_leftover_pan_is_masked(
    tmp_path: Path, tokenizer: CardTokenizer
) -> None:
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"card_number": None, "card_key": "payment.card.fingerprint"}))
    ctx = IngestContext(tokenizer=tokenizer, options={"mapping": str(mapping)})
    document = doc(payment__card={"number": PAN, "fingerprint": "fp-1", "cvc": "999"})
    tx = only_event(read(write_lines(tmp_path, document), ctx))
    assert (
        tx.card is not None and tx.card.token == tokenizer.card_from_key("documents", "fp-1").token
    )
    assert tx.attributes == {"payment.card.number": "411111******1111"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("amount_major: x\n", "unknown canonical field"),
        ("- a\n- b\n", "canonical_field: source"),
        ("amount: 5\n", "must map to a non-empty text"),
        ("amount: [unclosed\n", "cannot read"),
    ],
)
def test_bad_mapping_files_fail_the_run(
    tmp_path: Path, tokenizer: CardTokenizer, content: str, message: str
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(content)
    ctx = IngestContext(tokenizer=tokenizer, options={"mapping": str(mapping)})
    with pytest.raises(ConfigError, match=message):
        read(write_lines(tmp_path, doc()), ctx)


def test_single_line_gzipped_array_with_bom(tmp_path: Path, ctx: IngestContext) -> None:
    documents = [doc(_id=f"d{i}") for i in range(3000)]  # mongoexport --jsonArray: one line
    path = tmp_path / "export.json.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf  " + json.dumps(documents).encode()))
    parsed = read(path, ctx)
    assert len(parsed) == 3000 and all(p.error is None for p in parsed)
    assert parsed[-1].position == 3000 and parsed[-1].events[0].transaction_id == "d2999"  # type: ignore[union-attr]
