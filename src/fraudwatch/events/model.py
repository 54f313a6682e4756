"""Canonical events: every source is normalised to these before anything else sees it.

`Transaction`, `Login` and `Label` are strict msgspec structs: decoding checks types, and
`__post_init__` checks the domain rules (UTC time, ISO 4217 currency, country codes, ranges).
A failed check raises `ValueError`/`TypeError`, which msgspec reports with the field's path
(`Expected ... - at $.merchant.country`), and `RecordError` everywhere else.

Card numbers never live in a canonical event after ingestion: a source adapter turns them into
a keyed token, the BIN and the last four digits (`fraudwatch.security.tokens`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from fraudwatch.events.currency import CURRENCIES

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
AttributeValue = str | int | float | bool | None
MAX_DECIMALS = 6  # the store keeps NUMERIC(20, 6); more would be rounded, so it is refused


class Channel(StrEnum):
    CARD_PRESENT = "card_present"
    ECOMMERCE = "ecommerce"
    ATM = "atm"
    TRANSFER = "transfer"
    WALLET = "wallet"


class LabelSource(StrEnum):
    CHARGEBACK = "chargeback"
    ANALYST = "analyst"
    CUSTOMER_REPORT = "customer_report"
    STEP_UP = "step_up"
    DATASET = "dataset"


def _country(value: str | None, field: str) -> None:
    if value is not None and (len(value) != 2 or not value.isascii() or not value.isupper()):
        raise ValueError(f"{field} must be an ISO 3166 alpha-2 code such as 'DE', got {value!r}")


def _geo(lat: float | None, lon: float | None, field: str) -> None:
    if (lat is None) != (lon is None):
        raise ValueError(f"{field}: latitude and longitude go together")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{field}: ({lat}, {lon}) is not a position on Earth")


class Card(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A payment card as fraudwatch keeps it: a keyed token, BIN and last four, never the PAN.

    `number` exists only on input (a gateway sends a PAN); ingestion replaces it by the token.
    """

    token: str | None = None
    bin: str | None = None
    last4: str | None = None
    number: str | None = None

    def __post_init__(self) -> None:
        if self.token is None and self.number is None:
            raise ValueError("card needs a token or a number")
        if self.bin is not None and not (self.bin.isdigit() and 6 <= len(self.bin) <= 8):
            raise ValueError(f"card.bin must be 6 to 8 digits, got {self.bin!r}")
        if self.last4 is not None and not (self.last4.isdigit() and len(self.last4) == 4):
            raise ValueError(f"card.last4 must be 4 digits, got {self.last4!r}")


class Merchant(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: Id
    name: str | None = None
    mcc: str | None = None
    country: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    def __post_init__(self) -> None:
        if self.mcc is not None and not (self.mcc.isdigit() and len(self.mcc) == 4):
            raise ValueError(f"merchant.mcc must be 4 digits, got {self.mcc!r}")
        _country(self.country, "merchant.country")
        _geo(self.latitude, self.longitude, "merchant")


class Device(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: Id
    type: str | None = None
    os: str | None = None
    user_agent: str | None = None
    fingerprint: str | None = None


class Transaction(
    msgspec.Struct, kw_only=True, omit_defaults=True, tag="transaction", tag_field="type"
):
    """One payment, whatever bank, gateway, file or table it came from."""

    transaction_id: Id
    event_time: AwareDatetime
    amount: Decimal
    currency: str
    source: str = "unknown"
    card: Card | None = None
    customer_id: str | None = None
    account_id: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    customer_phone: str | None = None
    merchant: Merchant | None = None
    terminal_id: str | None = None
    channel: Channel | None = None
    entry_mode: str | None = None
    device: Device | None = None
    ip_address: str | None = None
    billing_country: str | None = None
    shipping_country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    attributes: dict[str, AttributeValue] = {}
    personal: dict[str, str] = {}

    def __post_init__(self) -> None:
        self.event_time = self.event_time.astimezone(UTC)
        if not self.amount.is_finite():
            raise ValueError("amount must be a finite number")
        if self.amount < 0:
            raise ValueError(f"amount must not be negative, got {self.amount}")
        exponent = self.amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
            raise ValueError(f"amount has more than {MAX_DECIMALS} decimal places: {self.amount}")
        if self.currency not in CURRENCIES:
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code")
        _country(self.billing_country, "billing_country")
        _country(self.shipping_country, "shipping_country")
        _geo(self.latitude, self.longitude, "transaction")


class Login(msgspec.Struct, kw_only=True, omit_defaults=True, tag="login", tag_field="type"):
    """A customer's login to online banking or a wallet; feeds account-takeover detection."""

    login_id: Id
    customer_id: Id
    event_time: AwareDatetime
    success: bool = True
    source: str = "unknown"
    ip_address: str | None = None
    device: Device | None = None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    def __post_init__(self) -> None:
        self.event_time = self.event_time.astimezone(UTC)
        _country(self.country, "country")
        _geo(self.latitude, self.longitude, "login")


class Label(msgspec.Struct, kw_only=True, omit_defaults=True, tag="label", tag_field="type"):
    """What became known about a transaction, and when: the fuel of training and label features."""

    transaction_id: Id
    is_fraud: bool
    event_time: AwareDatetime
    known_at: AwareDatetime
    source: LabelSource = LabelSource.CHARGEBACK
    fraud_type: str | None = None

    def __post_init__(self) -> None:
        self.event_time = self.event_time.astimezone(UTC)
        self.known_at = self.known_at.astimezone(UTC)
        if self.known_at < self.event_time:
            raise ValueError("known_at must not be before the transaction's event_time")

    @property
    def label_id(self) -> str:
        """Stable id: the same label replayed is the same row."""
        return f"{self.transaction_id}:{self.source.value}"


Event = Transaction | Login | Label

_encoder = msgspec.json.Encoder(order="sorted")
_event_decoder = msgspec.json.Decoder(Event)
_tx_decoder = msgspec.json.Decoder(Transaction)


def encode(event: Event) -> bytes:
    """Canonical JSON of an event: sorted keys, so equal content is equal bytes."""
    return _encoder.encode(event)


def decode_event(data: bytes | str) -> Event:
    event: Event = _event_decoder.decode(data)
    return event


def decode_transaction(data: bytes | str) -> Transaction:
    return _tx_decoder.decode(data)


def content_hash(event: Event) -> bytes:
    """16-byte BLAKE2b digest of the canonical JSON: same id + same hash is a harmless replay."""
    return hashlib.blake2b(_encoder.encode(event), digest_size=16).digest()


def to_builtins(event: Event) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(event)
    return result
