from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import msgspec
import pytest

from fraudwatch.events.currency import currency_for_numeric, from_minor_units, to_minor_units
from fraudwatch.events.deadletter import from_validation_error
from fraudwatch.events.model import (
    Label,
    LabelSource,
    Transaction,
    content_hash,
    decode_event,
    decode_transaction,
    encode,
)
from tests.conftest import make_transaction

VALID = (
    b'{"transaction_id":"t1","event_time":"2026-03-01T10:00:00+02:00",'
    b'"amount":"12.30","currency":"EUR"}'
)


def test_event_time_is_normalised_to_utc() -> None:
    tx = decode_transaction(VALID)
    assert tx.event_time == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert tx.event_time.tzinfo is UTC


def test_round_trip_through_canonical_json() -> None:
    tx = make_transaction(attributes={"v1": -1.5, "flag": True}, personal={"street": "Main 1"})
    again = decode_event(encode(tx))
    assert again == tx
    assert content_hash(again) == content_hash(tx)


def test_content_hash_changes_with_content() -> None:
    assert content_hash(make_transaction()) != content_hash(make_transaction(amount=Decimal("1")))


@pytest.mark.parametrize(
    ("patch", "reason", "field"),
    [
        (b'"currency":"EUR"', "unknown_currency", None),
        (b'"amount":"12.30"', "bad_number", "amount"),
        (b'"event_time":"2026-03-01T10:00:00+02:00"', "bad_time", "event_time"),
        (b'"transaction_id":"t1",', "missing_field", "transaction_id"),
    ],
)
def test_invalid_fields_are_named(patch: bytes, reason: str, field: str | None) -> None:
    replacement = {
        "unknown_currency": b'"currency":"XXX"',
        "bad_number": b'"amount":"12,3x"',
        "bad_time": b'"event_time":"2026-03-01T10:00:00"',
        "missing_field": b"",
    }[reason]
    with pytest.raises(msgspec.ValidationError) as info:
        decode_transaction(VALID.replace(patch, replacement))
    error = from_validation_error(info.value)
    assert error.reason == reason
    if field:
        assert error.field == field


def test_negative_amount_and_bad_country_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        make_transaction(amount=Decimal("-1"))
    with pytest.raises(ValueError, match="ISO 3166"):
        make_transaction(billing_country="Germany")


def test_label_cannot_be_known_before_it_happened() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="known_at"):
        Label(transaction_id="t", is_fraud=True, event_time=now, known_at=now - timedelta(days=1))
    label = Label(
        transaction_id="t",
        is_fraud=True,
        event_time=now.astimezone(timezone(timedelta(hours=5))),
        known_at=now + timedelta(days=9),
        source=LabelSource.CHARGEBACK,
    )
    assert label.label_id == "t:chargeback"
    assert label.event_time.tzinfo is UTC


def test_minor_units_follow_the_currency_exponent() -> None:
    assert from_minor_units(12345, "EUR") == Decimal("123.45")
    assert from_minor_units(12345, "JPY") == Decimal("12345")
    assert from_minor_units(12345, "BHD") == Decimal("12.345")
    assert to_minor_units(Decimal("123.45"), "EUR") == 12345
    numeric = currency_for_numeric("978")
    assert numeric is not None and numeric.code == "EUR"
    assert currency_for_numeric("36") is not None


def test_transaction_type_tag_is_optional_on_input() -> None:
    tx = decode_transaction(VALID)
    assert isinstance(tx, Transaction)
    assert b'"type":"transaction"' in encode(tx)


def test_amount_precision_beyond_the_store_is_refused() -> None:
    assert make_transaction(amount=Decimal("0.000001")).amount == Decimal("0.000001")
    with pytest.raises(ValueError, match="decimal places"):
        make_transaction(amount=Decimal("0.0000001"))
