"""The flat canonical layout: one column per field, for Parquet files and SQL tables.

JSON Lines carry the nested canonical structs; columnar stores want flat columns. This module is
the single mapping between the two (`card.token` <-> `card_token`), and the Arrow schemas that the
simulator writes and the `parquet` format reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
import pyarrow as pa

from fraudwatch.events.model import Label, Login, Transaction

# flat column -> (nested path, arrow type)
TRANSACTION_COLUMNS: dict[str, tuple[tuple[str, ...], pa.DataType]] = {
    "transaction_id": (("transaction_id",), pa.string()),
    "event_time": (("event_time",), pa.timestamp("us", tz="UTC")),
    "amount": (("amount",), pa.decimal128(20, 6)),
    "currency": (("currency",), pa.string()),
    "source": (("source",), pa.string()),
    "card_number": (("card", "number"), pa.string()),
    "card_token": (("card", "token"), pa.string()),
    "card_bin": (("card", "bin"), pa.string()),
    "card_last4": (("card", "last4"), pa.string()),
    "customer_id": (("customer_id",), pa.string()),
    "account_id": (("account_id",), pa.string()),
    "customer_name": (("customer_name",), pa.string()),
    "customer_email": (("customer_email",), pa.string()),
    "customer_phone": (("customer_phone",), pa.string()),
    "merchant_id": (("merchant", "id"), pa.string()),
    "merchant_name": (("merchant", "name"), pa.string()),
    "merchant_mcc": (("merchant", "mcc"), pa.string()),
    "merchant_country": (("merchant", "country"), pa.string()),
    "merchant_city": (("merchant", "city"), pa.string()),
    "merchant_latitude": (("merchant", "latitude"), pa.float64()),
    "merchant_longitude": (("merchant", "longitude"), pa.float64()),
    "terminal_id": (("terminal_id",), pa.string()),
    "channel": (("channel",), pa.string()),
    "entry_mode": (("entry_mode",), pa.string()),
    "device_id": (("device", "id"), pa.string()),
    "device_type": (("device", "type"), pa.string()),
    "device_os": (("device", "os"), pa.string()),
    "device_user_agent": (("device", "user_agent"), pa.string()),
    "device_fingerprint": (("device", "fingerprint"), pa.string()),
    "ip_address": (("ip_address",), pa.string()),
    "billing_country": (("billing_country",), pa.string()),
    "shipping_country": (("shipping_country",), pa.string()),
    "latitude": (("latitude",), pa.float64()),
    "longitude": (("longitude",), pa.float64()),
    "attributes": (("attributes",), pa.string()),
    "personal": (("personal",), pa.string()),
}
JSON_COLUMNS = frozenset({"attributes", "personal"})

TRANSACTION_SCHEMA = pa.schema([(name, kind) for name, (_, kind) in TRANSACTION_COLUMNS.items()])

LABEL_SCHEMA = pa.schema(
    [
        ("transaction_id", pa.string()),
        ("is_fraud", pa.bool_()),
        ("fraud_type", pa.string()),
        ("source", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("known_at", pa.timestamp("us", tz="UTC")),
    ]
)

LOGIN_SCHEMA = pa.schema(
    [
        ("login_id", pa.string()),
        ("customer_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("success", pa.bool_()),
        ("source", pa.string()),
        ("ip_address", pa.string()),
        ("device_id", pa.string()),
        ("device_type", pa.string()),
        ("device_os", pa.string()),
        ("device_user_agent", pa.string()),
        ("device_fingerprint", pa.string()),
        ("country", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
    ]
)


def nest_transaction(row: Mapping[str, Any]) -> dict[str, Any]:
    """Flat row -> nested dict ready for `msgspec.convert(..., Transaction)`.

    Columns the layout does not know go to `attributes`; nulls are left out so defaults apply.
    """
    nested: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for column, value in row.items():
        if value is None:
            continue
        spec = TRANSACTION_COLUMNS.get(column)
        if spec is None:
            extra[column] = value
            continue
        if column in JSON_COLUMNS and isinstance(value, str):
            value = json.loads(value)  # noqa: PLW2901
        path = spec[0]
        target = nested
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    if extra:
        nested.setdefault("attributes", {}).update(extra)
    return nested


def flatten_transaction(tx: Transaction) -> dict[str, Any]:
    nested = msgspec.to_builtins(tx, builtin_types=(datetime, Decimal))
    row: dict[str, Any] = {}
    for column, (path, _) in TRANSACTION_COLUMNS.items():
        value: Any = nested
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if column in JSON_COLUMNS:
            value = json.dumps(value, sort_keys=True) if value else None
        row[column] = value
    return row


def label_row(label: Label) -> dict[str, Any]:
    return {
        "transaction_id": label.transaction_id,
        "is_fraud": label.is_fraud,
        "fraud_type": label.fraud_type,
        "source": label.source.value,
        "event_time": label.event_time,
        "known_at": label.known_at,
    }


def login_row(login: Login) -> dict[str, Any]:
    device = login.device
    return {
        "login_id": login.login_id,
        "customer_id": login.customer_id,
        "event_time": login.event_time,
        "success": login.success,
        "source": login.source,
        "ip_address": login.ip_address,
        "device_id": device.id if device else None,
        "device_type": device.type if device else None,
        "device_os": device.os if device else None,
        "device_user_agent": device.user_agent if device else None,
        "device_fingerprint": device.fingerprint if device else None,
        "country": login.country,
        "latitude": login.latitude,
        "longitude": login.longitude,
    }


def nest_login(row: Mapping[str, Any]) -> dict[str, Any]:
    nested = {k: v for k, v in row.items() if v is not None and not k.startswith("device_")}
    device = {k[7:]: v for k, v in row.items() if k.startswith("device_") and v is not None}
    if device:
        nested["device"] = device
    return nested
