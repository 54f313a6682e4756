"""The bank/gateway formats: readers on good and bad input, and writer -> reader round trips."""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from fraudwatch.errors import FraudwatchError
from fraudwatch.events.currency import CURRENCIES
from fraudwatch.events.formats.bankcsv import BankCsvWriter, local_to_utc
from fraudwatch.events.formats.base import IngestContext, Parsed, get_format, get_writer
from fraudwatch.events.formats.iso8583 import describe_mti, split_pairs
from fraudwatch.events.formats.records import mask_pans, scrub_attributes
from fraudwatch.events.model import Card, Channel, Device, Merchant, Transaction
from fraudwatch.security.tokens import CardTokenizer
from tests.conftest import make_transaction

PAN = "4111111111111111"
BERLIN = ZoneInfo("Europe/Berlin")


def read(fmt: str, path: Path, ctx: IngestContext) -> list[Parsed]:
    return list(get_format(fmt).read(str(path), ctx))


def write_file(tmp_path: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode(encoding)))
    else:
        path.write_bytes(text.encode(encoding))
    return path


def only_error(parsed: list[Parsed]) -> tuple[str, str | None]:
    assert len(parsed) == 1, parsed
    assert parsed[0].error is not None, parsed[0]
    return parsed[0].error.reason, parsed[0].error.field


def tokenised(tx: Transaction, tokenizer: CardTokenizer) -> Transaction:
    assert tx.card is not None and tx.card.number is not None
    return msgspec.structs.replace(tx, card=tokenizer.card_from_number(tx.card.number))


# ---------------------------------------------------------------- generated transactions


def luhn_pan(rng: random.Random) -> str:
    body = [rng.choice("3456")] + [str(rng.randrange(10)) for _ in range(rng.choice((13, 14, 15)))]
    for check in "0123456789":
        digits = [*body, check]
        total = sum(
            (d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2))
            for i, d in enumerate(int(c) for c in reversed(digits))
        )
        if total % 10 == 0:
            return "".join(digits)
    raise AssertionError("unreachable")


NAMES = [
    "Café Central",
    'Bäckerei "Zum Löwen"; Inh. Schmidt',
    "東京ラーメン",
    "O'Brien & Sons",
    "Ünïcødé/Shop",
]
CITIES = ["Berlin", "München", "São Paulo", "Zürich", "Kraków"]
DST_EDGES = [
    datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),  # last second of winter time in Berlin
    datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC),  # first second of summer time
    datetime(2026, 10, 25, 0, 30, 0, tzinfo=UTC),  # 02:30 CEST, first pass of the repeated hour
    datetime(2026, 10, 25, 1, 30, 0, tzinfo=UTC),  # 02:30 CET, second pass
    datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, 0, tzinfo=UTC),
]
CURRENCY_CHOICES = ["EUR", "USD", "JPY", "BHD", "KWD", "CLP", "GBP", "CHF"]


def amount_for(rng: random.Random, currency: str) -> Decimal:
    minor = rng.choice([0, 1, 99, 100, 12345, 999_999, rng.randrange(10**9)])
    return Decimal(minor).scaleb(-CURRENCIES[currency].exponent)


def event_time(rng: random.Random, microseconds: bool) -> datetime:
    if rng.random() < 0.3:
        return rng.choice(DST_EDGES)
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400))
    if microseconds:
        moment += timedelta(microseconds=rng.choice([0, 250_000, 123_456, 1]))
    return moment


def maybe(rng: random.Random, value: Any) -> Any:
    return value if rng.random() < 0.7 else None


def base_fields(rng: random.Random, i: int, *, microseconds: bool) -> dict[str, Any]:
    currency = rng.choice(CURRENCY_CHOICES)
    return {
        "transaction_id": f"tx-{i}-{rng.randrange(10**6)}",
        "event_time": event_time(rng, microseconds),
        "amount": amount_for(rng, currency),
        "currency": currency,
        "source": "northbank",
        "card": Card(number=luhn_pan(rng)),
    }


def merchant(rng: random.Random, *, slash_free_city: bool = False) -> Merchant | None:
    if rng.random() < 0.2:
        return None
    return Merchant(
        id=rng.choice(["M-1", "MERCH000000001", "m;2", "M 3"]),
        name=maybe(rng, rng.choice(NAMES)),
        mcc=maybe(rng, rng.choice(["5411", "5812", "6011"])),
        city=maybe(rng, rng.choice(CITIES)),
        country=maybe(rng, rng.choice(["DE", "AT", "BR"])),
    )


def cardnet_tx(rng: random.Random, i: int) -> Transaction:
    m = merchant(rng)
    if m is not None and rng.random() < 0.5:
        m = msgspec.structs.replace(m, latitude=52.52, longitude=-13.405)
    return Transaction(
        **base_fields(rng, i, microseconds=True),
        customer_id=maybe(rng, "C-9"),
        account_id=maybe(rng, "A-9"),
        customer_name=maybe(rng, "Zoë Ñúñez"),
        customer_email=maybe(rng, "zoe@example.org"),
        customer_phone=maybe(rng, "+49 30 1234567"),
        merchant=m,
        terminal_id=maybe(rng, "T-17"),
        channel=maybe(rng, rng.choice(list(Channel))),
        entry_mode=maybe(rng, rng.choice(["chip", "contactless", "ecommerce", "manual"])),
        device=maybe(rng, Device(id="D-1", os=maybe(rng, "iOS 18"), user_agent="Mozilla/5.0")),
        ip_address=maybe(rng, rng.choice(["203.0.113.7", "2001:db8::1"])),
        billing_country=maybe(rng, "DE"),
        shipping_country=maybe(rng, "AT"),
        latitude=(lat := maybe(rng, 48.1)),
        longitude=None if lat is None else 11.5,
        attributes=rng.choice(
            [{}, {"order": "O-1", "score": 0.25, "n": 3, "flag": True, "x": None}]
        ),
    )


def bank_csv_tx(rng: random.Random, i: int) -> Transaction:
    return Transaction(
        **base_fields(rng, i, microseconds=False),
        customer_id=maybe(rng, "C-9"),
        account_id=maybe(rng, "DE89370400440532013000"),
        merchant=merchant(rng),
        terminal_id=maybe(rng, "T-17"),
        channel=maybe(rng, rng.choice(list(Channel))),
        entry_mode=maybe(rng, rng.choice(["chip", "contactless", "magstripe", "ecommerce", "qr"])),
        billing_country=maybe(rng, "DE"),
        shipping_country=maybe(rng, "PL"),
        ip_address=maybe(rng, "198.51.100.4"),
    )


ISO_COMBOS = [
    ("chip", Channel.CARD_PRESENT),
    ("contactless", Channel.CARD_PRESENT),
    ("magstripe", Channel.CARD_PRESENT),
    ("manual", Channel.CARD_PRESENT),
    ("ecommerce", Channel.ECOMMERCE),
    ("credential_on_file", Channel.ECOMMERCE),
    ("chip", Channel.ATM),
    (None, Channel.TRANSFER),
    (None, None),
]


def iso_tx(rng: random.Random, i: int) -> Transaction:
    entry_mode, channel = rng.choice(ISO_COMBOS)
    m = merchant(rng)
    if m is not None and m.city and "/" in m.city:
        m = msgspec.structs.replace(m, city="Berlin")
    return Transaction(
        **base_fields(rng, i, microseconds=True),
        merchant=m,
        terminal_id=maybe(rng, rng.choice(["TERM0001", "T 2"])),
        channel=channel,
        entry_mode=entry_mode,
        attributes=rng.choice([{}, {"DE37": "633012345678"}, {"note": 'say "hi"  twice'}]),
    )


def round_trip(
    fmt: str,
    tmp_path: Path,
    tokenizer: CardTokenizer,
    make: Callable[[random.Random, int], Transaction],
    options: dict[str, str],
) -> None:
    rng = random.Random(f"{fmt}-round-trip")
    txs = [make(rng, i) for i in range(400)]
    writer = get_writer(fmt)
    header = writer.header()
    lines = ([header] if header is not None else []) + [writer.encode(tx) for tx in txs]
    path = write_file(tmp_path, "out.txt", "\n".join(lines) + "\n")
    ctx = IngestContext(tokenizer=tokenizer, options=options)
    parsed = read(fmt, path, ctx)
    assert [p.error for p in parsed] == [None] * len(txs)
    assert [p.events[0] for p in parsed] == [tokenised(tx, tokenizer) for tx in txs]


def test_cardnet_round_trip(tmp_path: Path, tokenizer: CardTokenizer) -> None:
    round_trip("cardnet-json", tmp_path, tokenizer, cardnet_tx, {})


def test_bank_csv_round_trip(tmp_path: Path, tokenizer: CardTokenizer) -> None:
    round_trip("bank-csv", tmp_path, tokenizer, bank_csv_tx, {"source": "northbank"})


def test_iso8583_round_trip(tmp_path: Path, tokenizer: CardTokenizer) -> None:
    round_trip("iso8583-log", tmp_path, tokenizer, iso_tx, {"source": "northbank"})


@pytest.mark.parametrize("fmt", ["cardnet-json", "bank-csv", "iso8583-log"])
def test_writers_refuse_what_the_wire_cannot_carry(fmt: str) -> None:
    writer = get_writer(fmt)
    with pytest.raises(ValueError, match="card number"):
        writer.encode(make_transaction())  # a tokenised card has no PAN to send
    with pytest.raises(ValueError, match="decimals"):
        writer.encode(
            make_transaction(card=Card(number=PAN), amount=Decimal("1.5"), currency="JPY")
        )


# ---------------------------------------------------------------- cardnet-json


def cardnet_line(**changes: Any) -> str:
    message: dict[str, Any] = {
        "id": "auth-1",
        "created": "2026-11-23T10:00:00Z",
        "amount": {"value": 12345, "currency": "EUR"},
        "card": {"pan": PAN, "expiry": "12/28"},
    }
    for key, value in changes.items():
        target = message
        *parents, last = key.split("__")
        for parent in parents:
            target = target.setdefault(parent, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return msgspec.json.encode(message).decode()


def test_cardnet_sample_file(data_dir: Path, ctx: IngestContext) -> None:
    parsed = read("cardnet-json", data_dir / "formats" / "cardnet.jsonl", ctx)
    assert [p.position for p in parsed] == [1, 2, 4, 5, 6]  # the blank line 3 is no record
    first, second = parsed[0].events[0], parsed[1].events[0]
    assert isinstance(first, Transaction) and isinstance(second, Transaction)
    assert first.amount == Decimal("123.45") and first.source == "northbank"
    assert first.merchant == Merchant(
        id="M-1001", name="Café Central", mcc="5812", country="DE", city="Berlin",
        latitude=52.52, longitude=13.405,
    )  # fmt: skip
    assert first.attributes == {"risk.3ds": "frictionless", "order": "O-1"}
    assert first.card is not None and first.card.number is None and first.card.last4 == "1111"
    assert second.amount == Decimal(500) and second.currency == "JPY"
    assert second.event_time == datetime(2026, 11, 23, 9, 0, 5, tzinfo=UTC)
    assert second.source == "cardnet-json"  # no acquirer in the data: the format name
    assert [p.error.reason for p in parsed[2:] if p.error] == [
        "unknown_currency",
        "bad_card_number",
        "unparseable",
    ]


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"created": None}, "missing_field", "created"),
        ({"amount__currency": None}, "missing_field", "amount.currency"),
        ({"amount__value": "12,30"}, "bad_number", "amount.value"),
        ({"amount__value": 12.3}, "bad_number", "amount.value"),
        ({"amount__value": -5}, "bad_number", "amount.value"),
        ({"created": "2026-11-23T10:00:00"}, "bad_time", "created"),
        ({"created": "yesterday"}, "bad_time", "created"),
        ({"amount__currency": "EURO"}, "unknown_currency", "amount.currency"),
        ({"card__pan": "4111111111111112"}, "bad_card_number", "card.pan"),
        ({"card__pan": "4111-1111"}, "bad_card_number", "card.pan"),
        ({"pos__entry_mode": "telepathy"}, "bad_value", "pos.entry_mode"),
        ({"pos__channel": "pigeon"}, "bad_value", "pos.channel"),
        ({"merchant__name": "no id"}, "missing_field", "merchant.id"),
        ({"billing__country": "Germany"}, "bad_value", "billing.country"),
        ({"geo__lat": 91.0, "geo__lon": 0.0}, "bad_value", None),
    ],
)
def test_cardnet_bad_records(
    tmp_path: Path, ctx: IngestContext, changes: dict[str, Any], reason: str, field: str | None
) -> None:
    path = write_file(tmp_path, "feed.jsonl", cardnet_line(**changes) + "\n")
    assert only_error(read("cardnet-json", path, ctx)) == (reason, field)


def test_cardnet_metadata_never_keeps_card_data(tmp_path: Path, ctx: IngestContext) -> None:
    metadata = {"cvv": "123", "note": f"card {PAN} used", "nested": {"pan": PAN}, "tags": [1, "a"]}
    path = write_file(tmp_path, "feed.jsonl", cardnet_line(metadata=metadata) + "\n")
    (parsed,) = read("cardnet-json", path, ctx)
    assert parsed.events[0].attributes == {"note": "card 411111******1111 used", "tags": '[1,"a"]'}  # type: ignore[union-attr]


def test_cardnet_gzip_empty_and_progress(tmp_path: Path, tokenizer: CardTokenizer) -> None:
    seen: list[tuple[int, int | None]] = []
    ctx = IngestContext(
        tokenizer=tokenizer, progress=lambda done, total: seen.append((done, total))
    )
    path = write_file(tmp_path, "feed.jsonl.gz", (cardnet_line() + "\n") * 3)
    assert [p.error for p in read("cardnet-json", path, ctx)] == [None] * 3
    assert seen and seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert read("cardnet-json", write_file(tmp_path, "empty.jsonl", ""), ctx) == []


def test_cardnet_invalid_utf8_is_a_dead_letter(tmp_path: Path, ctx: IngestContext) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(
        cardnet_line(id="caf\u00e9").encode("latin-1") + b"\n" + cardnet_line().encode() + b"\n"
    )
    parsed = read("cardnet-json", path, ctx)
    assert parsed[0].error is not None and parsed[0].error.reason == "unparseable"
    assert "\ufffd" in parsed[0].raw and parsed[1].error is None


def test_corrupt_gzip_fails_the_file_after_the_good_lines(
    tmp_path: Path, ctx: IngestContext
) -> None:
    data = gzip.compress(((cardnet_line() + "\n") * 2000).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    parsed: list[Parsed] = []
    with pytest.raises(FraudwatchError, match="corrupt or truncated"):
        parsed.extend(get_format("cardnet-json").read(str(path), ctx))
    assert parsed and all(p.error is None for p in parsed)


# ---------------------------------------------------------------- bank-csv

HEADER = BankCsvWriter().header() or ""


def bank_row(**cells: str) -> str:
    names = HEADER.split(";")
    values = {
        "Transaktions-ID": "TX-1",
        "Datum/Uhrzeit": "23.11.2026 11:00:00",
        "Betrag": "1.234,56",
        "Währung": "EUR",
        "Kartennummer": PAN,
    } | cells
    return ";".join(values.get(name, "") for name in names)


def test_bank_csv_sample_file(data_dir: Path, ctx: IngestContext) -> None:
    parsed = read("bank-csv", data_dir / "formats" / "bank.csv", ctx)
    assert [p.position for p in parsed] == [2, 3, 4, 5]
    first, second = parsed[0].events[0], parsed[1].events[0]
    assert isinstance(first, Transaction) and isinstance(second, Transaction)
    assert first.amount == Decimal("1234.56") and first.event_time.hour == 10
    assert (
        first.merchant is not None and first.merchant.name == 'Bäckerei "Zum Löwen"; Inh. Schmidt'
    )
    assert (first.channel, first.entry_mode) == (Channel.CARD_PRESENT, "contactless")
    assert first.attributes == {"Filiale": "0815"} and first.source == "bank-csv"
    # 02:30 on 25 Oct happens twice; without an offset it is the first pass (summer time)
    assert second.event_time == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert parsed[2].error is not None and parsed[2].error.reason == "bad_time"  # DST gap
    assert parsed[3].error is not None and parsed[3].error.reason == "unparseable"
    assert parsed[3].error.message == "has 7 fields, the header has 20"


@pytest.mark.parametrize(
    ("cells", "reason", "field"),
    [
        ({"Betrag": ""}, "missing_field", "Betrag"),
        ({"Transaktions-ID": " "}, "missing_field", "Transaktions-ID"),
        ({"Betrag": "12,3x"}, "bad_number", "Betrag"),
        ({"Betrag": "-5,00"}, "bad_number", "Betrag"),
        ({"Datum/Uhrzeit": "2026-11-23 11:00:00"}, "bad_time", "Datum/Uhrzeit"),
        ({"Datum/Uhrzeit": "31.02.2026 11:00:00"}, "bad_time", "Datum/Uhrzeit"),
        ({"UTC-Versatz": "+05:00"}, "bad_time", "UTC-Versatz"),
        ({"UTC-Versatz": "CET"}, "bad_time", "UTC-Versatz"),
        ({"Währung": "EURO"}, "unknown_currency", "Währung"),
        ({"Kartennummer": "4111111111111112"}, "bad_card_number", "Kartennummer"),
        ({"Kanal": "Brieftaube"}, "bad_value", "Kanal"),
        ({"Händlerland": "Deutschland", "Händler-ID": "M-1"}, "bad_value", "Händlerland"),
        ({"Händlername": "no id"}, "missing_field", "Händler-ID"),
        ({"IP-Adresse": "999.1.1.1"}, "bad_value", "IP-Adresse"),
    ],
)
def test_bank_csv_bad_records(
    tmp_path: Path, ctx: IngestContext, cells: dict[str, str], reason: str, field: str
) -> None:
    path = write_file(tmp_path, "export.csv", f"{HEADER}\n{bank_row(**cells)}\n")
    assert only_error(read("bank-csv", path, ctx)) == (reason, field)


def test_bank_csv_missing_header_columns_fail_before_any_record(
    tmp_path: Path, ctx: IngestContext
) -> None:
    text = "Transaktions-ID;Datum/Uhrzeit;Betrag\nTX-1;23.11.2026 11:00:00;1,00\n"
    records = get_format("bank-csv").read(str(write_file(tmp_path, "x.csv", text)), ctx)
    with pytest.raises(FraudwatchError, match="Währung, Kartennummer") as raised:
        next(iter(records))
    assert raised.value.code == "bad_layout"


def test_bank_csv_malformed_csv_and_empty_files(tmp_path: Path, ctx: IngestContext) -> None:
    text = f'{HEADER}\n{bank_row(Händlername="a")}\n"broken"x;1\n{bank_row()}\n"open;\n'
    parsed = read("bank-csv", write_file(tmp_path, "x.csv", text), ctx)
    assert [(p.position, p.error and p.error.reason) for p in parsed] == [
        (2, "missing_field"),
        (3, "unparseable"),
        (4, None),
        (5, "unparseable"),
    ]
    assert read("bank-csv", write_file(tmp_path, "empty.csv", ""), ctx) == []
    assert read("bank-csv", write_file(tmp_path, "header.csv", HEADER + "\n"), ctx) == []


def test_bank_csv_encoding_timezone_and_gzip(tmp_path: Path, tokenizer: CardTokenizer) -> None:
    text = f"{HEADER}\n{bank_row(Händlername='Müller', **{'Händler-ID': 'M-1'})}\n"
    cp1252 = write_file(tmp_path, "win.csv", text, encoding="cp1252")
    plain = IngestContext(tokenizer=tokenizer)
    with pytest.raises(FraudwatchError, match="header is not valid utf-8-sig"):
        read("bank-csv", cp1252, plain)
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(f"{HEADER}\n".encode() + text.split("\n")[1].encode("cp1252") + b"\n")
    assert only_error(read("bank-csv", mixed, plain)) == ("unparseable", None)
    windows = IngestContext(tokenizer=tokenizer, options={"encoding": "cp1252"})
    (parsed,) = read("bank-csv", cp1252, windows)
    assert parsed.events[0].merchant.name == "Müller"  # type: ignore[union-attr]
    new_york = IngestContext(tokenizer=tokenizer, options={"timezone": "America/New_York"})
    (parsed,) = read("bank-csv", write_file(tmp_path, "x.csv.gz", text), new_york)
    assert parsed.events[0].event_time == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    with pytest.raises(FraudwatchError, match="time zone"):
        list(
            get_format("bank-csv").read(
                str(cp1252),
                IngestContext(tokenizer=tokenizer, options={"timezone": "Mars/Olympus"}),
            )
        )


def test_bank_csv_local_time_is_deterministic_around_dst() -> None:
    assert local_to_utc("25.10.2026 02:30:00", None, BERLIN).hour == 0  # first pass, CEST
    assert local_to_utc("25.10.2026 02:30:00", "+02:00", BERLIN).hour == 0
    assert local_to_utc("25.10.2026 02:30:00", "+01:00", BERLIN).hour == 1
    assert local_to_utc("29.03.2026 01:59:59", None, BERLIN).hour == 0
    assert local_to_utc("29.03.2026 03:00:00", None, BERLIN).hour == 1


# ---------------------------------------------------------------- iso8583-log

ISO_PREFIX = "2026-11-23T10:00:00.123Z INFO authsvc"


def iso_line(**pairs: str | None) -> str:
    values = {"MTI": "0100", "TXID": "A-1", "DE2": PAN, "DE4": "000000012345", "DE49": "978"}
    values |= pairs
    return ISO_PREFIX + "".join(f" {k}={v}" for k, v in values.items() if v is not None)


def test_iso8583_sample_file(data_dir: Path, ctx: IngestContext) -> None:
    parsed = read("iso8583-log", data_dir / "formats" / "iso8583.log", ctx)
    first, atm = parsed[0].events[0], parsed[1].events[0]
    assert isinstance(first, Transaction) and isinstance(atm, Transaction)
    assert first.transaction_id == "TERM0001-20261123-123456"  # derived from DE41, date, DE11
    assert first.amount == Decimal("123.45") and first.currency == "EUR"
    assert first.merchant == Merchant(
        id="MERCH000000001", name="SHOP NAME", mcc="5411", city="BERLIN", country="DE"
    )
    assert (first.entry_mode, first.channel, first.terminal_id) == (
        "chip",
        "card_present",
        "TERM0001",
    )
    assert first.attributes == {} and first.source == "iso8583-log"
    assert (atm.transaction_id, atm.channel, atm.amount) == ("SW-77", Channel.ATM, Decimal(50))
    assert atm.merchant is not None and atm.merchant.city == "Frankfurt am Main"
    assert atm.attributes == {"DE37": "633012345678"}  # DE35 track data never stored
    reversal, network, chatter = (p.error for p in parsed[2:])
    assert reversal is not None and reversal.reason == "bad_value" and reversal.field == "MTI"
    assert "reversal request" in reversal.message
    assert network is not None and "network management request" in network.message
    assert chatter is not None and chatter.reason == "unparseable"


@pytest.mark.parametrize(
    ("pairs", "reason", "field"),
    [
        ({"DE2": None}, "missing_field", "DE2"),
        ({"MTI": None}, "missing_field", "MTI"),
        ({"TXID": None}, "missing_field", "TXID"),
        ({"DE4": "12.34"}, "bad_number", "DE4"),
        ({"DE4": "0000000000123"}, "bad_number", "DE4"),
        ({"DE49": "999"}, "unknown_currency", "DE49"),
        ({"DE49": "EUR"}, "unknown_currency", "DE49"),
        ({"DE2": "4111111111111112"}, "bad_card_number", "DE2"),
        ({"MTI": "0110"}, "bad_value", "MTI"),
        ({"MTI": "0420"}, "bad_value", "MTI"),
        ({"DE3": "200000"}, "bad_value", "DE3"),
        ({"DE22": "5"}, "bad_value", "DE22"),
        ({"DE43": "NO SLASHES"}, "bad_value", "DE43"),
        ({"DE43": "Shop/Berlin/Germany", "DE42": "M1"}, "bad_value", "DE43"),
        ({"DE18": "54", "DE42": "M1"}, "bad_value", "DE18/DE43"),
    ],
)
def test_iso8583_bad_records(
    tmp_path: Path, ctx: IngestContext, pairs: dict[str, str | None], reason: str, field: str
) -> None:
    path = write_file(tmp_path, "auth.log", iso_line(**pairs) + "\n")
    assert only_error(read("iso8583-log", path, ctx)) == (reason, field)


@pytest.mark.parametrize(
    "line",
    [
        "2026-11-23T10:00:00Z INFO authsvc",
        "2026-11-23T10:00:00Z INFO authsvc MTI=0100 MTI=0200",
        "2026-11-23T10:00:00Z INFO authsvc just words",
        "10:00:00 INFO authsvc MTI=0100",
    ],
)
def test_iso8583_unparseable_lines(tmp_path: Path, ctx: IngestContext, line: str) -> None:
    assert only_error(read("iso8583-log", write_file(tmp_path, "a.log", line + "\n"), ctx)) == (
        "unparseable",
        None,
    )


def test_iso8583_bad_log_time(tmp_path: Path, ctx: IngestContext) -> None:
    line = iso_line().replace("10:00:00.123Z", "10:00:00.123")
    assert only_error(read("iso8583-log", write_file(tmp_path, "a.log", line), ctx)) == (
        "bad_time",
        "timestamp",
    )


def test_iso8583_pairs_and_mti_names() -> None:
    assert split_pairs('A=1 B="x \\"y\\" z" C=free text D=') == {
        "A": "1", "B": 'x "y" z', "C": "free text", "D": ""
    }  # fmt: skip
    assert describe_mti("0800") == "network management request"
    assert describe_mti("0410") == "reversal response"


def test_iso8583_gzip_and_empty(tmp_path: Path, ctx: IngestContext) -> None:
    path = write_file(tmp_path, "auth.log.gz", iso_line() + "\n\n" + iso_line(TXID="A-2") + "\n")
    assert [p.position for p in read("iso8583-log", path, ctx)] == [1, 3]
    assert read("iso8583-log", write_file(tmp_path, "none.log", "\n\n"), ctx) == []


# ---------------------------------------------------------------- shared pieces


def test_every_gateway_format_and_writer_is_registered() -> None:
    for fmt in ("cardnet-json", "bank-csv", "iso8583-log"):
        assert get_format(fmt).name == fmt
        assert get_writer(fmt).name == fmt


def test_attributes_never_keep_card_data() -> None:
    assert mask_pans(f"pan {PAN} and 4111 1111 1111 1111 and 1234567890123") == (
        "pan 411111******1111 and 411111******1111 and 1234567890123"
    )
    assert scrub_attributes(
        {"CVV2": "123", "card.expiry": "12/28", "ref": int(PAN), "order": 4711, "ok": "x"}
    ) == {"ref": "411111******1111", "order": 4711, "ok": "x"}


def test_option_source_wins_over_the_bank_named_in_the_data(
    tmp_path: Path, tokenizer: CardTokenizer
) -> None:
    path = write_file(tmp_path, "feed.jsonl", cardnet_line(acquirer="northbank") + "\n")
    named = read("cardnet-json", path, IngestContext(tokenizer=tokenizer))
    forced = read("cardnet-json", path, IngestContext(tokenizer=tokenizer, options={"source": "b"}))
    assert [named[0].events[0].source, forced[0].events[0].source] == ["northbank", "b"]  # type: ignore[union-attr]
