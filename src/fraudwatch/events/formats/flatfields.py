"""Building a canonical `Transaction` from flat canonical field names, whatever their value types.

Three formats name their data by the flat canonical columns of `fraudwatch.events.flat`
(`transaction_id`, `event_time`, `amount`, `card_number`, `merchant_id`, ...): a log line's regex
groups (all text), a JSON document's mapped paths (JSON values, MongoDB dates and decimals) and a
SQL row (driver values: `Decimal`, `datetime`, `int`). `FlatTransactionBuilder` coerces each of
them with the shared field parsers, so a bad value becomes a `RecordError` naming the field.

Two names extend the flat layout for sources: `amount_minor` (an integer amount in the currency's
minor units) and `card_key` (a source's own card identifier or foreign token, tokenised under the
source's namespace). A `card_token` is taken as a fraudwatch token, as in a table fraudwatch wrote.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import yaml

from fraudwatch.errors import ConfigError, RecordError
from fraudwatch.events import parsing
from fraudwatch.events.flat import TRANSACTION_COLUMNS, nest_transaction
from fraudwatch.events.formats.base import IngestContext
from fraudwatch.events.formats.records import resolve_source, scrub_attributes
from fraudwatch.events.model import AttributeValue, Card, Transaction

SOURCE_EXTRAS = ("amount_minor", "card_key")
FLAT_FIELDS: frozenset[str] = frozenset(TRANSACTION_COLUMNS) | frozenset(SOURCE_EXTRAS)

_COUNTRIES = ("billing_country", "shipping_country", "merchant_country")
_FLOATS = ("latitude", "longitude", "merchant_latitude", "merchant_longitude")
# fields coerced one by one in `build`; every other flat field is plain text
_TYPED = frozenset(
    {"card_number", "card_token", "card_key", "card_bin", "card_last4", "event_time", "amount"}
    | {"amount_minor", "currency", "source", "ip_address", "channel", "attributes", "personal"}
    | set(_COUNTRIES)
    | set(_FLOATS)
)


def zone_option(ctx: IngestContext, default: str) -> ZoneInfo:
    """The IANA time zone named by option `timezone`; an unknown name fails the whole run."""
    name = ctx.option("timezone", default)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from exc


def text(value: object, field: str) -> str | None:
    """A scalar as stripped text (None when empty); a nested value is refused."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict | list | tuple | bytes):
        raise RecordError("bad_value", f"is a {type(value).__name__}, expected a text", field=field)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def event_time(
    value: object, zone: tzinfo, field: str = "event_time", fmt: str = "iso"
) -> datetime:
    """A timestamp as aware UTC: a `datetime`, or text in ISO 8601 (`fmt="iso"`) or a strptime
    pattern; a time without a zone is wall-clock time in `zone`."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        parsed = _parse_time_text(value.strip(), fmt, field)
    elif value is None or value == "":
        raise RecordError("missing_field", "is required", field=field)
    else:
        raise RecordError("bad_time", f"{value!r} is not a timestamp", field=field)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _parse_time_text(value: str, fmt: str, field: str) -> datetime:
    try:
        if fmt == "iso":
            return datetime.fromisoformat(value)
        return datetime.strptime(value, fmt)
    except ValueError:
        expected = "an ISO 8601 timestamp" if fmt == "iso" else f"the pattern {fmt!r}"
        raise RecordError("bad_time", f"{value!r} is not {expected}", field=field) from None


def amount(value: object, field: str = "amount") -> Decimal:
    """A non-negative amount in major units from a `Decimal`, a number or a `.`-decimal text."""
    if isinstance(value, bool):
        raise RecordError("bad_number", f"{value!r} is not a number", field=field)
    if isinstance(value, Decimal) and value.is_finite() and value >= 0:
        return value
    if isinstance(value, Decimal | int):
        return parsing.decimal(str(value), field)
    if isinstance(value, float):
        return parsing.decimal(repr(value), field)
    if isinstance(value, str):
        return parsing.decimal(value, field)
    raise RecordError("bad_number", f"{value!r} is not a number", field=field)


def ip_address(value: object, field: str = "ip_address") -> str | None:
    """An IPv4/IPv6 address in its normal form, validated so enrichment can rely on it."""
    raw = text(value, field)
    if raw is None:
        return None
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise RecordError("bad_value", f"{raw!r} is not an IP address", field=field) from None


class FlatTransactionBuilder:
    """Turns `{flat canonical name: value}` into a validated, tokenised `Transaction`."""

    def __init__(
        self, ctx: IngestContext, *, default_source: str, zone: tzinfo, time_format: str = "iso"
    ) -> None:
        self._ctx = ctx
        self._default_source = default_source
        self._zone = zone
        self._time_format = time_format

    def build(
        self, values: Mapping[str, object], attributes: Mapping[str, AttributeValue] | None = None
    ) -> Transaction:
        """`values` may hold any subset of `FLAT_FIELDS`; `attributes` are scrubbed of card data."""
        flat: dict[str, Any] = {
            key: text(value, key)
            for key, value in values.items()
            if key not in _TYPED and value is not None
        }
        currency = parsing.currency(parsing.required(values, "currency"))
        flat["transaction_id"] = parsing.required(values, "transaction_id")
        flat["event_time"] = event_time(values.get("event_time"), self._zone, fmt=self._time_format)
        flat["amount"] = self._amount(values, currency)
        flat["currency"] = currency
        flat["ip_address"] = ip_address(values.get("ip_address"))
        flat["channel"] = (text(values.get("channel"), "channel") or "").lower() or None
        for key in _COUNTRIES:
            flat[key] = parsing.country(text(values.get(key), key), key)
        for key in _FLOATS:
            raw = values.get(key)
            flat[key] = None if raw is None or raw == "" else parsing.number(_num(raw), key)
        for key in ("attributes", "personal"):
            flat[key] = values.get(key)
        extra = {**_deviceless(flat), **(attributes or {})}
        nested = nest_transaction(flat)
        named_source = text(values.get("source"), "source")
        nested["card"] = self._card(values, named_source)
        nested["source"] = resolve_source(self._ctx, named_source, self._default_source)
        nested["attributes"] = scrub_attributes({**nested.get("attributes", {}), **extra})
        return msgspec.convert(nested, Transaction)

    def _amount(self, values: Mapping[str, object], currency: str) -> Decimal:
        major = values.get("amount")
        if major is not None and major != "":
            return amount(major)
        minor = text(values.get("amount_minor"), "amount_minor")
        if minor is not None:
            return parsing.minor_units(minor, currency, "amount_minor")
        raise RecordError("missing_field", "is required", field="amount")

    def _card(self, values: Mapping[str, object], named_source: str | None) -> Card | None:
        number = text(values.get("card_number"), "card_number")
        if number is not None:
            return self._ctx.tokenizer.card_from_number(number, field="card_number")
        token = text(values.get("card_token"), "card_token")
        key = text(values.get("card_key"), "card_key")
        if token is None and key is not None:
            namespace = resolve_source(self._ctx, named_source, self._default_source)
            token = self._ctx.tokenizer.card_from_key(namespace, key).token
        if token is None:
            return None
        card = {
            "token": token,
            "bin": text(values.get("card_bin"), "card_bin"),
            "last4": text(values.get("card_last4"), "card_last4"),
        }
        return msgspec.convert({k: v for k, v in card.items() if v is not None}, Card)


def _deviceless(flat: dict[str, Any]) -> dict[str, AttributeValue]:
    """Device details of a source that names no device id (an access log's user agent): they
    cannot form a `Device`, so they move from `flat` to the attributes instead of failing."""
    if flat.get("device_id") is not None:
        return {}
    keys = [key for key in flat if key.startswith("device_") and flat[key] is not None]
    return {key: flat.pop(key) for key in keys}


def attribute_value(value: object) -> AttributeValue:
    """A source's leftover scalar as an attribute: a decimal a float cannot hold exactly stays
    text, a time is ISO 8601 text, bytes are hex."""
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if value.is_finite() and Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _num(value: object) -> str | float:
    return value if isinstance(value, float) else str(value)


def load_mapping(location: str | None, default: Mapping[str, str]) -> dict[str, str]:
    """`default` overridden by a YAML/JSON file `{canonical_field: source_path}`.

    A `null` value removes a default entry. Unknown canonical names are a configuration error,
    raised before any record is read.
    """
    mapping = dict(default)
    if not location:
        return mapping
    try:
        loaded = yaml.safe_load(Path(location).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the mapping file {location}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{location}: a mapping file holds {{canonical_field: source}} pairs")
    unknown = sorted(str(key) for key in loaded if key not in FLAT_FIELDS)
    if unknown:
        raise ConfigError(
            f"{location}: unknown canonical field(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(FLAT_FIELDS))}"
        )
    for key, source in loaded.items():
        if source is None:
            mapping.pop(key, None)
        elif isinstance(source, str) and source:
            mapping[key] = source
        else:
            raise ConfigError(f"{location}: {key} must map to a non-empty text, got {source!r}")
    return mapping
