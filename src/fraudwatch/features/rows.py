"""What both feature engines read: transactions and labels reduced to exact primitive values.

The online and the offline engine must agree bit for bit, so neither looks at a `Transaction`
directly: both read `TxRow`s made here, once, by the same code. Every value the aggregations use
is an exact integer (time in microseconds, amounts in millionths of the reporting currency,
positions in millionths of a degree) or a string, so sums are exact in Python and in SQL alike.

The stream both engines consume is `merge_stream(...)`: transactions at their event time and
labels at the time they became known, in time order; at equal times a label comes first (a
label known at t is known to a transaction scored at t), then events keep their arrival order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import pyarrow as pa

from fraudwatch.events.model import Label, Transaction
from fraudwatch.features.enrich.fx import to_reporting_micro
from fraudwatch.features.enrich.ip import IpLocator

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1_000_000


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch, exact (no float on the way)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def _micro_degrees(value: float | None) -> int | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value * MICROS)


@dataclass(slots=True)
class TxRow:
    """One transaction as the feature engines see it. Entity keys are the flat-column values."""

    seq: int
    transaction_id: str
    ts: int
    amount: int
    hour: int
    card: str | None
    customer: str | None
    account: str | None
    merchant: str | None
    terminal: str | None
    device: str | None
    ip: str | None
    mcc: str | None
    channel: str | None
    entry_mode: str | None
    currency: str
    source: str
    merchant_country: str | None
    billing_country: str | None
    shipping_country: str | None
    ip_country: str | None
    lat: int | None
    lon: int | None
    attributes: dict[str, float]


@dataclass(slots=True)
class LabelRow:
    """A label at the moment it became known: from then on its transaction counts as fraud."""

    transaction_id: str
    known_at: int
    is_fraud: bool


def _numeric_attributes(tx: Transaction) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in tx.attributes.items():
        if isinstance(value, bool):
            out[key] = 1.0 if value else 0.0
        elif isinstance(value, int | float) and math.isfinite(value):
            out[key] = float(value)
    return out


def tx_row(tx: Transaction, seq: int, locator: IpLocator) -> TxRow:
    merchant = tx.merchant
    latitude, longitude = tx.latitude, tx.longitude
    if latitude is None and merchant is not None:
        latitude, longitude = merchant.latitude, merchant.longitude
    ts = micros(tx.event_time)
    return TxRow(
        seq=seq,
        transaction_id=tx.transaction_id,
        ts=ts,
        amount=to_reporting_micro(tx.amount, tx.currency),
        hour=tx.event_time.hour,
        card=tx.card.token if tx.card else None,
        customer=tx.customer_id,
        account=tx.account_id,
        merchant=merchant.id if merchant else None,
        terminal=tx.terminal_id,
        device=tx.device.id if tx.device else None,
        ip=tx.ip_address,
        mcc=merchant.mcc if merchant else None,
        channel=tx.channel.value if tx.channel else None,
        entry_mode=tx.entry_mode,
        currency=tx.currency,
        source=tx.source,
        merchant_country=merchant.country if merchant else None,
        billing_country=tx.billing_country,
        shipping_country=tx.shipping_country,
        ip_country=locator.country(tx.ip_address) if tx.ip_address else None,
        lat=_micro_degrees(latitude),
        lon=_micro_degrees(longitude),
        attributes=_numeric_attributes(tx),
    )


def label_row(label: Label) -> LabelRow:
    return LabelRow(label.transaction_id, micros(label.known_at), label.is_fraud)


StreamItem = TxRow | LabelRow


def stream_key(item: StreamItem) -> tuple[int, int, int]:
    """Sort key of the merged stream: time, labels before transactions, then arrival order."""
    if isinstance(item, LabelRow):
        return (item.known_at, 0, 0)
    return (item.ts, 1, item.seq)


def merge_stream(transactions: Iterable[TxRow], labels: Iterable[LabelRow]) -> list[StreamItem]:
    """Transactions and labels in the order both engines process them (a stable sort)."""
    items: list[StreamItem] = [*transactions, *labels]
    items.sort(key=stream_key)
    return items


def rows_from_events(
    events: Iterable[Transaction | Label], locator: IpLocator
) -> Iterator[StreamItem]:
    """Canonical events (logins are skipped) to rows, numbering transactions in arrival order."""
    seq = 0
    for event in events:
        if isinstance(event, Transaction):
            yield tx_row(event, seq, locator)
            seq += 1
        elif isinstance(event, Label):
            yield label_row(event)


# --- the columnar form the offline engine loads --------------------------------------------

TX_SCALAR_FIELDS = [f.name for f in fields(TxRow) if f.name != "attributes"]


def tx_table(rows: Sequence[TxRow], attributes: Sequence[str] = ()) -> pa.Table:
    """Rows as an Arrow table: one column per scalar field, plus `attr_<name>` per attribute."""
    columns: dict[str, pa.Array] = {}
    for name in TX_SCALAR_FIELDS:
        values = [getattr(row, name) for row in rows]
        kind = pa.int64() if name in ("seq", "ts", "amount", "hour", "lat", "lon") else pa.string()
        columns[name] = pa.array(values, type=kind)
    for attribute in attributes:
        columns[f"attr_{attribute}"] = pa.array(
            [row.attributes.get(attribute) for row in rows], type=pa.float64()
        )
    return pa.table(columns)


def label_table(rows: Sequence[LabelRow]) -> pa.Table:
    return pa.table(
        {
            "transaction_id": pa.array([r.transaction_id for r in rows], type=pa.string()),
            "known_at": pa.array([r.known_at for r in rows], type=pa.int64()),
            "is_fraud": pa.array([r.is_fraud for r in rows], type=pa.bool_()),
        }
    )


#: definition field name (flat canonical column, see `definitions.ENTITIES`) -> `TxRow` attribute
ROW_FIELD: dict[str, str] = {
    "card_token": "card",
    "customer_id": "customer",
    "account_id": "account",
    "merchant_id": "merchant",
    "terminal_id": "terminal",
    "device_id": "device",
    "ip_address": "ip",
    "merchant_mcc": "mcc",
    "amount": "amount",
    "latitude": "lat",
    "longitude": "lon",
    "hour_of_day": "hour",
    "currency": "currency",
    "channel": "channel",
    "entry_mode": "entry_mode",
    "merchant_country": "merchant_country",
    "billing_country": "billing_country",
    "shipping_country": "shipping_country",
    "ip_country": "ip_country",
    "source": "source",
}
#: entity name -> `TxRow` attribute holding its key
ENTITY_FIELD: dict[str, str] = {
    "card": "card",
    "customer": "customer",
    "account": "account",
    "merchant": "merchant",
    "terminal": "terminal",
    "device": "device",
    "ip": "ip",
    "mcc": "mcc",
}
