"""`documents`: payments kept as JSON documents in a NoSQL store, read from a MongoDB-style export.

The input is JSON Lines (position = line number) or one JSON array (position = element number,
streamed in constant memory), in plain or MongoDB Extended JSON (`{"$date": ...}`,
`{"$numberDecimal": "12.30"}`, `{"$oid": ...}`; see `mongojson`). Canonical fields are taken from
dotted paths into each document (`payment.card.number`; a number indexes a list: `items.0.sku`)
by a mapping, `DEFAULT_MAPPING` unless option `mapping` names a YAML/JSON file of
`{canonical_field: "dotted.source.path"}` overrides (`null` drops a default). Every other scalar
goes to `attributes` under its dotted path, card data scrubbed. A document shaped like

    {"_id": {"$oid": "6561f0c2a1b2c3d4e5f60718"}, "createdAt": {"$date": "2026-11-23T10:00:00Z"},
     "payment": {"amount": {"$numberDecimal": "12.30"}, "currency": "EUR",
                 "card": {"number": "4111111111111111"}, "channel": "ecommerce"},
     "customer": {"id": "C-9", "profile": {"email": "ana@example.org"}},
     "merchant": {"id": "M-1", "address": {"country": "DE"}}, "device": {"ip": "203.0.113.7"}}

needs no mapping file. A time without a zone is read in option `timezone` (default UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from fraudwatch.errors import RecordError
from fraudwatch.events.formats.base import IngestContext, Parsed, register_format
from fraudwatch.events.formats.flatfields import (
    FlatTransactionBuilder,
    attribute_value,
    load_mapping,
    zone_option,
)
from fraudwatch.events.formats.mongojson import ArraySplitter, decoder, plain
from fraudwatch.events.formats.records import record_error, renamed
from fraudwatch.events.formats.textio import (
    chunks_of,
    encoding_error,
    lines_of,
    open_text,
    printable,
    starts_with,
    undecodable,
)
from fraudwatch.events.model import Transaction

NAME = "documents"

DEFAULT_MAPPING: dict[str, str] = {
    "transaction_id": "_id",
    "event_time": "createdAt",
    "amount": "payment.amount",
    "currency": "payment.currency",
    "card_number": "payment.card.number",
    "channel": "payment.channel",
    "entry_mode": "payment.entryMode",
    "terminal_id": "payment.terminalId",
    "customer_id": "customer.id",
    "account_id": "customer.accountId",
    "customer_name": "customer.profile.name",
    "customer_email": "customer.profile.email",
    "customer_phone": "customer.profile.phone",
    "billing_country": "customer.billingAddress.country",
    "shipping_country": "shipping.address.country",
    "merchant_id": "merchant.id",
    "merchant_name": "merchant.name",
    "merchant_mcc": "merchant.mcc",
    "merchant_city": "merchant.address.city",
    "merchant_country": "merchant.address.country",
    "device_id": "device.id",
    "device_type": "device.type",
    "device_os": "device.os",
    "device_user_agent": "device.userAgent",
    "device_fingerprint": "device.fingerprint",
    "ip_address": "device.ip",
    "latitude": "geo.lat",
    "longitude": "geo.lon",
    "source": "source",
}


def leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """`(dotted path, scalar)` for every scalar in a document; list items by index."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{prefix}{index}.")
    else:
        yield prefix[:-1], value


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted path, or None when any step is missing."""
    value = document
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


class DocumentMapper:
    """Maps one decoded document to a `Transaction` by the canonical-field -> path mapping."""

    def __init__(self, mapping: dict[str, str], builder: FlatTransactionBuilder) -> None:
        self._mapping = mapping
        self._paths = frozenset(mapping.values())
        self._builder = builder
        self._names = mapping | {"merchant.id": mapping.get("merchant_id", "merchant_id")}

    def transaction(self, document: Any) -> Transaction:
        if not isinstance(document, dict):
            message = f"is a JSON {type(document).__name__}, expected an object (a document)"
            raise RecordError("unparseable", message)
        try:
            document = plain(document)
            values: dict[str, Any] = {}
            for field, path in self._mapping.items():
                value = lookup(document, path)
                if isinstance(value, dict | list):
                    message = f"{path} holds an object or list, map a scalar path inside it"
                    raise RecordError("bad_value", message, field=field)
                values[field] = value
            extra = {
                path: attribute_value(value)
                for path, value in leaves(document)
                if path not in self._paths
            }
            return self._builder.build(values, attributes=extra)
        except Exception as exc:  # reported under the document's own path, not the canonical name
            raise renamed(record_error(exc), self._names) from exc


@register_format
class Documents:
    """Reads a NoSQL/MongoDB export (options: `mapping`, `timezone`, `source`)."""

    name: ClassVar[str] = NAME
    summary: ClassVar[str] = "JSON documents (MongoDB export, Extended JSON), nested paths mapped"

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        mapping = load_mapping(ctx.options.get("mapping"), DEFAULT_MAPPING)
        builder = FlatTransactionBuilder(ctx, default_source=NAME, zone=zone_option(ctx, "UTC"))
        mapper = DocumentMapper(mapping, builder)
        with open_text(
            location, ctx.progress, encoding="utf-8-sig", errors="surrogateescape"
        ) as stream:
            if starts_with(stream, b"["):
                yield from _array(chunks_of(stream, location), mapper)
            else:
                yield from _json_lines(lines_of(stream, location), mapper)


def _json_lines(lines: Iterator[tuple[int, str]], mapper: DocumentMapper) -> Iterator[Parsed]:
    """One `Parsed` per non-blank line, numbered by line."""
    for number, line in lines:
        text = line.strip()
        if text:
            yield _parse(number, text, mapper)


def _array(chunks: Iterator[str], mapper: DocumentMapper) -> Iterator[Parsed]:
    """One `Parsed` per element of a top-level array, numbered from 1, in constant memory."""
    splitter = ArraySplitter()
    count = 0
    for chunk in chunks:
        for element in splitter.feed(chunk):
            count += 1
            yield _parse(count, element, mapper)
    rest = splitter.finish()
    if rest is not None:
        error = RecordError("unparseable", "the JSON array is cut short or followed by text")
        yield Parsed(count + 1, printable(rest), error=error)


def _parse(position: int, text: str, mapper: DocumentMapper) -> Parsed:
    if undecodable(text):
        return Parsed(position, printable(text), error=encoding_error("utf-8"))
    try:
        return Parsed(position, text, events=(mapper.transaction(decoder.decode(text)),))
    except Exception as exc:  # a bad record never ends the run
        return Parsed(position, text, error=record_error(exc))
