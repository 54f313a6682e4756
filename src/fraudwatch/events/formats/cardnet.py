"""`cardnet-json`: a card network's authorisation messages as JSON Lines, amounts in minor units.

One JSON object per line (blank lines are passed over; the position is the line number):

    {"id": "auth_8f2c91",                        required, 1-128 chars   -> transaction_id
     "created": "2026-11-23T10:00:00.250Z",      required, RFC 3339 with a zone -> event_time
     "acquirer": "bank-a",                       optional, the sending bank -> source
     "amount": {"value": 12345,                  required, integer >= 0 in MINOR units
                "currency": "EUR"},              required, ISO 4217 alphabetic code
     "card": {"pan": "4111111111111111",         required, tokenised at once, never kept
              "expiry": "12/28"},                optional MM/YY, read and discarded
     "merchant": {"id": "M-1001", "name": "Café Central", "mcc": "5812",
                  "address": {"country": "DE", "city": "Berlin", "lat": 52.52, "lon": 13.405}},
     "pos": {"terminal_id": "T-17",
             "entry_mode": "chip",   chip | contactless | magstripe | manual | ecommerce |
                                     credential_on_file
             "channel": "card_present"},         card_present | ecommerce | atm | transfer | wallet
     "customer": {"id": "C-9", "account_id": "A-9", "name": "...", "email": "...", "phone": "..."},
     "device": {"id": "D-1", "type": "mobile", "os": "iOS 18", "user_agent": "...",
                "fingerprint": "..."},
     "ip": "203.0.113.7",
     "billing": {"country": "DE"}, "shipping": {"country": "AT"},
     "geo": {"lat": 52.5, "lon": 13.4},          where the cardholder was
     "metadata": {"risk": {"3ds": "frictionless"}, "order": "O-1"}}   -> attributes

Every object except `id`, `created`, `amount` and `card` is optional. `metadata` is flattened into
`attributes` with dotted keys (`risk.3ds`), lists kept as JSON text, card data scrubbed. Unknown
keys are ignored, so a network adding a field does not break ingestion; data worth keeping goes
in `metadata`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, cast, get_args

import msgspec

from fraudwatch.errors import RecordError
from fraudwatch.events import parsing
from fraudwatch.events.currency import from_minor_units
from fraudwatch.events.formats.base import IngestContext, Parsed, register_format, register_writer
from fraudwatch.events.formats.flatfields import ip_address
from fraudwatch.events.formats.records import (
    each_line,
    exact_minor_units,
    record_error,
    require_pan,
    resolve_source,
    scrub_attributes,
)
from fraudwatch.events.model import AttributeValue, AwareDatetime, Channel, Transaction

NAME = "cardnet-json"
EntryMode = Literal["chip", "contactless", "magstripe", "manual", "ecommerce", "credential_on_file"]
ENTRY_MODES: frozenset[str] = frozenset(get_args(EntryMode))


class _Wire(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of the wire structs: keyword-only, absent optional keys left out when encoding."""


class CardnetAmount(_Wire):
    value: int
    currency: str


class CardnetCard(_Wire):
    pan: str
    expiry: str | None = None


class CardnetAddress(_Wire):
    country: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None


class CardnetMerchant(_Wire):
    id: str
    name: str | None = None
    mcc: str | None = None
    address: CardnetAddress | None = None


class CardnetPos(_Wire):
    terminal_id: str | None = None
    entry_mode: EntryMode | None = None
    channel: Channel | None = None


class CardnetCustomer(_Wire):
    id: str | None = None
    account_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class CardnetDevice(_Wire):
    id: str
    type: str | None = None
    os: str | None = None
    user_agent: str | None = None
    fingerprint: str | None = None


class CardnetCountry(_Wire):
    country: str | None = None


class CardnetGeo(_Wire):
    lat: float
    lon: float


class CardnetMessage(_Wire):
    """One authorisation message as the network sends it."""

    id: str
    created: AwareDatetime
    amount: CardnetAmount
    card: CardnetCard
    acquirer: str | None = None
    merchant: CardnetMerchant | None = None
    pos: CardnetPos | None = None
    customer: CardnetCustomer | None = None
    device: CardnetDevice | None = None
    ip: str | None = None
    billing: CardnetCountry | None = None
    shipping: CardnetCountry | None = None
    geo: CardnetGeo | None = None
    metadata: dict[str, Any] = {}


_decoder = msgspec.json.Decoder(CardnetMessage)
_encoder = msgspec.json.Encoder()


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, AttributeValue]:
    """Nested JSON objects as dotted keys; lists as their JSON text."""
    flat: dict[str, AttributeValue] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = _encoder.encode(value).decode()
        else:
            flat[name] = value
    return flat


def _merchant(merchant: CardnetMerchant | None) -> dict[str, Any] | None:
    if merchant is None:
        return None
    address = merchant.address or CardnetAddress()
    return {
        "id": merchant.id,
        "name": merchant.name,
        "mcc": merchant.mcc,
        "country": parsing.country(address.country, "merchant.address.country"),
        "city": address.city,
        "latitude": address.lat,
        "longitude": address.lon,
    }


def _country(holder: CardnetCountry | None, field: str) -> str | None:
    return None if holder is None else parsing.country(holder.country, field)


def to_transaction(msg: CardnetMessage, ctx: IngestContext) -> Transaction:
    """The canonical transaction of a decoded message; the PAN is tokenised here."""
    currency = parsing.currency(msg.amount.currency, "amount.currency")
    if msg.amount.value < 0:
        raise RecordError("bad_number", f"{msg.amount.value} is negative", field="amount.value")
    pos, customer = msg.pos or CardnetPos(), msg.customer or CardnetCustomer()
    fields: dict[str, Any] = {
        "transaction_id": msg.id,
        "event_time": msg.created,
        "amount": from_minor_units(msg.amount.value, currency),
        "currency": currency,
        "source": resolve_source(ctx, msg.acquirer, NAME),
        "card": ctx.tokenizer.card_from_number(msg.card.pan, field="card.pan"),
        "customer_id": customer.id,
        "account_id": customer.account_id,
        "customer_name": customer.name,
        "customer_email": customer.email,
        "customer_phone": customer.phone,
        "merchant": _merchant(msg.merchant),
        "terminal_id": pos.terminal_id,
        "channel": pos.channel,
        "entry_mode": pos.entry_mode,
        "device": None if msg.device is None else msgspec.to_builtins(msg.device),
        "ip_address": ip_address(msg.ip, "ip"),
        "billing_country": _country(msg.billing, "billing.country"),
        "shipping_country": _country(msg.shipping, "shipping.country"),
        "latitude": None if msg.geo is None else msg.geo.lat,
        "longitude": None if msg.geo is None else msg.geo.lon,
        "attributes": scrub_attributes(flatten(msg.metadata)),
    }
    return msgspec.convert({k: v for k, v in fields.items() if v is not None}, Transaction)


def _wire_error(exc: msgspec.ValidationError | msgspec.DecodeError) -> RecordError:
    """msgspec's error, with an integer amount's type error reported as a bad number."""
    error = record_error(exc)
    if error.field == "amount.value" and error.reason == "bad_value":
        message = error.message.removeprefix(f"{error.field}: ")
        return RecordError("bad_number", message, field=error.field)
    return error


@register_format
class CardnetJson:
    """Reads a card network's JSON Lines authorisation feed."""

    name: ClassVar[str] = NAME
    summary: ClassVar[str] = "card-network JSON Lines, nested, amounts in minor units"

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        def parse(position: int, text: str) -> Parsed:
            try:
                msg = _decoder.decode(text)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                return Parsed(position, text, error=_wire_error(exc))
            return Parsed(position, text, events=(to_transaction(msg, ctx),))

        return each_line(location, ctx, parse)


def _expiry(created: datetime) -> str:
    """A plausible expiry three years after the transaction, as a network would send it."""
    later = created + timedelta(days=3 * 365)
    return f"{later.month:02d}/{later.year % 100:02d}"


@register_writer
class CardnetJsonWriter:
    """Writes transactions as the network would send them (`tx.card.number` is the PAN).

    An entry mode outside the schema's list is left out: the wire cannot carry it.
    """

    name: ClassVar[str] = NAME

    def header(self) -> str | None:
        return None

    def encode(self, tx: Transaction) -> str:
        message = CardnetMessage(
            id=tx.transaction_id,
            created=tx.event_time,
            acquirer=tx.source,
            amount=CardnetAmount(value=exact_minor_units(tx, NAME), currency=tx.currency),
            card=CardnetCard(pan=require_pan(tx, NAME), expiry=_expiry(tx.event_time)),
            merchant=_merchant_out(tx),
            pos=_pos(tx),
            customer=_customer(tx),
            device=None
            if tx.device is None
            else msgspec.convert(tx.device, CardnetDevice, from_attributes=True),
            ip=tx.ip_address,
            billing=_country_out(tx.billing_country),
            shipping=_country_out(tx.shipping_country),
            geo=_geo(tx),
            metadata=dict(tx.attributes),
        )
        return _encoder.encode(message).decode()


def _merchant_out(tx: Transaction) -> CardnetMerchant | None:
    m = tx.merchant
    if m is None:
        return None
    address = None
    if (m.country, m.city, m.latitude) != (None, None, None):
        address = CardnetAddress(country=m.country, city=m.city, lat=m.latitude, lon=m.longitude)
    return CardnetMerchant(id=m.id, name=m.name, mcc=m.mcc, address=address)


def _country_out(country: str | None) -> CardnetCountry | None:
    return None if country is None else CardnetCountry(country=country)


def _pos(tx: Transaction) -> CardnetPos | None:
    entry_mode = tx.entry_mode if tx.entry_mode in ENTRY_MODES else None
    if (tx.terminal_id, entry_mode, tx.channel) == (None, None, None):
        return None
    return CardnetPos(
        terminal_id=tx.terminal_id,
        entry_mode=cast(EntryMode | None, entry_mode),
        channel=tx.channel,
    )


def _customer(tx: Transaction) -> CardnetCustomer | None:
    customer = CardnetCustomer(
        id=tx.customer_id,
        account_id=tx.account_id,
        name=tx.customer_name,
        email=tx.customer_email,
        phone=tx.customer_phone,
    )
    return None if customer == CardnetCustomer() else customer


def _geo(tx: Transaction) -> CardnetGeo | None:
    if tx.latitude is None or tx.longitude is None:
        return None
    return CardnetGeo(lat=tx.latitude, lon=tx.longitude)
