"""Shared fixtures: factories for canonical events and a tokenizer with a fixed test key."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fraudwatch.events.formats.base import IngestContext
from fraudwatch.events.model import Card, Merchant, Transaction
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.tokens import CardTokenizer

TEST_TOKEN_KEY = bytes(range(32))
TEST_PII_KEYS = {"k1": bytes(range(1, 33)), "k2": bytes(range(2, 34))}


@pytest.fixture
def tokenizer() -> CardTokenizer:
    return CardTokenizer(TEST_TOKEN_KEY)


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing(TEST_PII_KEYS, "k1")


@pytest.fixture
def ctx(tokenizer: CardTokenizer) -> IngestContext:
    return IngestContext(tokenizer=tokenizer, source="test")


def make_transaction(**overrides: Any) -> Transaction:
    """A valid transaction; override any field by keyword."""
    fields: dict[str, Any] = {
        "transaction_id": "tx-1",
        "event_time": datetime(2026, 1, 15, 12, 30, tzinfo=UTC),
        "amount": Decimal("42.50"),
        "currency": "EUR",
        "source": "test-bank",
        "card": Card(token="tok_" + "a" * 32, bin="411111", last4="1111"),
        "customer_id": "cust-1",
        "merchant": Merchant(id="m-1", name="Shop", mcc="5411", country="DE"),
    }
    fields.update(overrides)
    return Transaction(**fields)


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"
