"""The `applog` format: built-in log types, user patterns, stack traces folded, never lost."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from fraudwatch.errors import ConfigError
from fraudwatch.events.formats import applog
from fraudwatch.events.formats.base import IngestContext, Parsed, get_format
from fraudwatch.events.model import Channel, Transaction
from fraudwatch.security.tokens import CardTokenizer

PAN = "4111111111111111"
SERVICE = "2026-11-23 10:00:01,123 INFO  [pool-1-thread-3] c.a.payments.PaymentService - payment"


def service_line(
    *,
    txn: str = "T-1",
    amount: str = "12.50",
    currency: str = "EUR",
    card: str = PAN,
    tail: str = "",
) -> str:
    return (
        f"{SERVICE} authorised txn={txn} amount={amount} currency={currency} card={card}"
        f" merchant=M-42{tail}"
    )


def read(path: Path, tokenizer: CardTokenizer, **options: str) -> list[Parsed]:
    ctx = IngestContext(tokenizer=tokenizer, options=options)
    return list(get_format("applog").read(str(path), ctx))


def write(tmp_path: Path, *lines: str, name: str = "app.log") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def event(parsed: Parsed) -> Transaction:
    assert parsed.error is None, parsed.error
    tx = parsed.events[0]
    assert isinstance(tx, Transaction)
    return tx


def test_payment_service_sample_folds_the_stack_trace(
    data_dir: Path, tokenizer: CardTokenizer
) -> None:
    path = data_dir / "formats" / "payment-service.log"
    parsed = read(path, tokenizer)
    assert [p.position for p in parsed] == [1, 2, 3, 9]
    tx = event(parsed[0])
    assert (tx.transaction_id, tx.amount, tx.currency, tx.source) == (
        "T-1001", Decimal("12.50"), "EUR", "payment-service"
    )  # fmt: skip
    assert tx.event_time == datetime(2026, 11, 23, 10, 0, 1, 123000, tzinfo=UTC)
    assert (tx.customer_id, tx.ip_address, tx.attributes) == (
        "C-9",
        "203.0.113.7",
        {"status": "authorised"},
    )
    debug, trace, declined = (p.error for p in parsed[1:])
    assert debug is not None and debug.message == "does not match the payment-service log pattern"
    assert trace is not None and trace.message.endswith("(with 5 continuation lines)")
    assert parsed[2].raw.count("\n") == 5  # the ERROR line and its whole trace, in one dead letter
    assert declined is not None and (declined.reason, declined.field) == ("bad_number", "amount")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert sum(p.raw.count("\n") + 1 for p in parsed) == len(lines)  # no line lost


def test_checkout_access_sample(data_dir: Path, tokenizer: CardTokenizer) -> None:
    parsed = read(
        data_dir / "formats" / "checkout-access.log", tokenizer, log_type="checkout-access"
    )
    first, second = event(parsed[0]), event(parsed[1])
    assert first.event_time == datetime(2026, 11, 23, 10, 0, 1, tzinfo=UTC)
    assert (first.transaction_id, first.customer_email, first.shipping_country) == (
        "O-1", "ana@example.org", "DE"
    )  # fmt: skip
    assert first.device is not None and first.device.user_agent is not None
    assert (first.channel, first.entry_mode) == (Channel.ECOMMERCE, "ecommerce")
    assert first.attributes == {"http_status": "201", "response_time": "0.087"}
    assert second.ip_address == "2001:db8::1" and second.device is None
    assert (
        "cvv" not in second.attributes and second.attributes["device_user_agent"] == "okhttp/4.12.0"
    )
    assert parsed[2].error is not None and "checkout-access" in parsed[2].error.message


def test_pos_syslog_sample(data_dir: Path, tokenizer: CardTokenizer) -> None:
    parsed = read(data_dir / "formats" / "pos-syslog.log", tokenizer, log_type="pos-syslog")
    tx = event(parsed[0])
    assert tx.event_time == datetime(2026, 11, 23, 9, 0, 1, 123000, tzinfo=UTC)
    assert (tx.entry_mode, tx.channel, tx.terminal_id) == (
        "contactless",
        Channel.CARD_PRESENT,
        "T-7",
    )
    assert tx.merchant is not None and tx.merchant.mcc == "5411"
    assert parsed[1].error is not None and parsed[1].error.reason == "unparseable"  # a REFUND


@pytest.mark.parametrize(
    ("line", "reason", "field"),
    [
        (service_line(amount="12,50"), "bad_number", "amount"),
        (service_line(currency="EURO"), "unknown_currency", "currency"),
        (service_line(card="4111111111111112"), "bad_card_number", "card_number"),
        (service_line(tail=" ip=not-an-ip"), "bad_value", "ip_address"),
        (service_line().replace("2026-11-23 10", "2026-13-23 10"), "bad_time", "event_time"),
        (service_line().replace("txn=T-1 ", ""), "unparseable", None),
        ("plain words", "unparseable", None),
    ],
)
def test_bad_lines(
    tmp_path: Path, tokenizer: CardTokenizer, line: str, reason: str, field: str | None
) -> None:
    (parsed,) = read(write(tmp_path, line), tokenizer)
    assert parsed.error is not None and (parsed.error.reason, parsed.error.field) == (reason, field)


def test_continuation_after_an_accepted_line_is_its_own_dead_letter(
    tmp_path: Path, tokenizer: CardTokenizer
) -> None:
    path = write(
        tmp_path,
        "\tat orphan.Start",
        service_line(),
        "\tat x.Y",
        "\t... 3 more",
        "",
        service_line(txn="T-2"),
    )
    parsed = read(path, tokenizer)
    assert [(p.position, p.error and p.error.reason) for p in parsed] == [
        (1, "unparseable"),
        (2, None),
        (3, "unparseable"),
        (6, None),
    ]
    assert parsed[2].raw == "\tat x.Y\n\t... 3 more"


def test_huge_traces_are_cut_into_bounded_dead_letters(
    tmp_path: Path, tokenizer: CardTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(applog, "MAX_GROUP_LINES", 3)
    parsed = read(write(tmp_path, "ERROR boom", *["\tat a.B"] * 7), tokenizer)
    assert [(p.position, p.raw.count("\n") + 1) for p in parsed] == [(1, 3), (4, 3), (7, 2)]


def test_user_defined_pattern(tmp_path: Path, tokenizer: CardTokenizer) -> None:
    pattern = (
        r"(?P<event_time>\S+) id=(?P<transaction_id>\S+) cents=(?P<amount_minor>\d+)"
        r" cur=(?P<currency>\w+) card=(?P<card_number>\d+) shop=(?P<merchant_id>\S+)"
        r" cc=(?P<billing_country>\w\w) lat=(?P<latitude>\S+) lon=(?P<longitude>\S+)"
        r" tier=(?P<tier>\w+)"
    )
    line = (
        f"23/11/2026-10:00 id=X1 cents=1999 cur=JPY card={PAN} shop=S1 cc=jp lat=35.6 lon=139.7"
        " tier=gold"
    )
    parsed = read(
        write(tmp_path, line, "garbage"),
        tokenizer,
        pattern=pattern,
        log_type="shop-app",
        time_format="%d/%m/%Y-%H:%M",
        timezone="Asia/Tokyo",
        source="tokyo-shop",
    )
    tx = event(parsed[0])
    assert (tx.amount, tx.currency, tx.billing_country) == (Decimal(1999), "JPY", "JP")
    assert tx.event_time == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert (tx.latitude, tx.longitude, tx.source, tx.attributes) == (
        35.6,
        139.7,
        "tokyo-shop",
        {"tier": "gold"},
    )
    assert parsed[1].error is not None and "shop-app" in parsed[1].error.message


def test_json_group_must_hold_an_object(tmp_path: Path, tokenizer: CardTokenizer) -> None:
    pattern = r"(?P<event_time>\S+) (?P<json>.*)"
    body = '{"transaction_id":"J1","amount":1.5,"currency":"EUR","score":0.5,"tags":["a"]}'
    lines = [
        f"2026-11-23T10:00:00Z {body}",
        "2026-11-23T10:00:00Z [1]",
        "2026-11-23T10:00:00Z {nope",
    ]
    parsed = read(write(tmp_path, *lines), tokenizer, pattern=pattern)
    assert event(parsed[0]).amount == Decimal("1.5")
    assert event(parsed[0]).attributes == {"score": 0.5, "tags": '["a"]'}
    assert [p.error and p.error.reason for p in parsed[1:]] == ["unparseable", "unparseable"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"log_type": "syslog-ng"}, "unknown log_type"),
        ({"pattern": "(?P<event_time"}, "not a valid regex"),
        ({"pattern": r"(?P<event_time>\S+) (?P<amount>\S+)"}, "transaction_id, currency"),
        ({"timezone": "Nowhere/Land"}, "unknown time zone"),
    ],
)
def test_bad_options_fail_the_run(
    tmp_path: Path, tokenizer: CardTokenizer, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        read(write(tmp_path, service_line()), tokenizer, **options)


def test_gzip_empty_and_undecodable(tmp_path: Path, tokenizer: CardTokenizer) -> None:
    path = tmp_path / "app.log.gz"
    path.write_bytes(gzip.compress((service_line() + "\n").encode()))
    assert event(read(path, tokenizer)[0]).transaction_id == "T-1"
    assert read(write(tmp_path, "", "   "), tokenizer) == []
    latin = tmp_path / "latin.log"
    latin.write_bytes(service_line(tail=" reason=d\xe9clin\xe9").encode("latin-1") + b"\n")
    (parsed,) = read(latin, tokenizer)
    assert parsed.error is not None and "not valid utf-8" in parsed.error.message
