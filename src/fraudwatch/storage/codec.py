"""Canonical events <-> table rows, encrypting personal fields on the way in and out.

Each personal field (names, email, phone, IP address, device fingerprint, the `personal` map) is
sealed separately with AES-256-GCM under the key ring's active key, whose id is stored once per
row (`pii_key_id`). The associated data is `table:row id:field`, so a ciphertext moved to another
row or column fails to decrypt rather than showing someone else's data.

The encoder builds plain tuples in the column order of `*_COLUMNS`, in the value style of the
backend's bulk path (Python objects for PostgreSQL COPY, text for SQLite), so no per-value
SQLAlchemy processing runs on the hot path. Reads go through SQLAlchemy and the decoder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from sqlalchemy import RowMapping

from fraudwatch.alerts.model import Alert
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.events.deadletter import DeadLetter
from fraudwatch.events.model import (
    Card,
    Channel,
    Device,
    Label,
    LabelSource,
    Login,
    Merchant,
    Transaction,
)
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.masking import mask_pans
from fraudwatch.storage.model import StorageError
from fraudwatch.storage.types import quantize_money, sqlite_time

TRANSACTION_COLUMNS = (
    "transaction_id", "event_time", "amount", "currency", "source",
    "card_token", "card_bin", "card_last4", "customer_id", "account_id",
    "merchant_id", "merchant_name", "merchant_mcc", "merchant_country", "merchant_city",
    "merchant_latitude", "merchant_longitude", "terminal_id", "channel", "entry_mode",
    "device_id", "device_type", "device_os", "device_user_agent",
    "billing_country", "shipping_country", "latitude", "longitude", "attributes",
    "customer_name_enc", "customer_email_enc", "customer_phone_enc", "ip_address_enc",
    "device_fingerprint_enc", "personal_enc", "pii_key_id", "ingested_at", "content_hash",
)  # fmt: skip
LABEL_COLUMNS = (
    "transaction_id", "source", "is_fraud", "fraud_type", "event_time", "known_at", "ingested_at",
)  # fmt: skip
LOGIN_COLUMNS = (
    "login_id", "customer_id", "event_time", "success", "source", "ip_address_enc",
    "device_id", "device_type", "device_os", "device_user_agent", "device_fingerprint_enc",
    "country", "latitude", "longitude", "pii_key_id", "ingested_at",
)  # fmt: skip
DECISION_COLUMNS = (
    "transaction_id", "event_time", "decided_at", "outcome", "risk_score", "model_score",
    "anomaly_score", "model_version", "ruleset_version", "rules_hit", "reasons", "latency_ms",
)  # fmt: skip
ALERT_COLUMNS = (
    "alert_key", "channel", "route", "transaction_id", "payload", "status", "attempts",
    "next_attempt_at", "created_at",
)  # fmt: skip
DEAD_LETTER_COLUMNS = (
    "source", "format", "position", "raw_enc", "pii_key_id", "reason", "field", "message",
    "created_at",
)  # fmt: skip

_json = msgspec.json.Encoder()
_personal_decoder = msgspec.json.Decoder(dict[str, str])


def _document(value: Any) -> dict[str, Any]:
    """A JSON column as read back: a dict (PostgreSQL, SQLAlchemy's JSON) or its text."""
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        decoded: dict[str, Any] = msgspec.json.decode(value)
        return decoded
    return dict(value)


def _json_text(value: dict[str, Any]) -> str:
    return _json.encode(value).decode()


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _sqlite_money(value: Decimal) -> str:
    return str(quantize_money(value))


@dataclass(frozen=True, slots=True)
class ValueStyle:
    """How a backend's bulk path wants times, amounts and JSON documents."""

    time: Callable[[datetime], Any]
    money: Callable[[Decimal], Any]
    json: Callable[[dict[str, Any]], Any]


POSTGRES_VALUES = ValueStyle(time=_utc, money=quantize_money, json=lambda value: value)
SQLITE_VALUES = ValueStyle(time=sqlite_time, money=_sqlite_money, json=_json_text)


def dead_letter_key(letter: DeadLetter) -> bytes:
    """16-byte identity of a dead letter: the same refused record replayed is the same row."""
    material = "\x00".join((letter.source, letter.format, str(letter.position), letter.raw))
    return hashlib.blake2b(material.encode(), digest_size=16).digest()


def _dead_letter_associated(letter: DeadLetter) -> bytes:
    return f"dead_letters:{letter.source}:{letter.format}:{letter.position}:raw".encode()


def _associated(table: str, row_id: str, field: str) -> bytes:
    return f"{table}:{row_id}:{field}".encode()


_TRANSACTION_SEALED = (
    "customer_name", "customer_email", "customer_phone", "ip_address", "device_fingerprint",
    "personal",
)  # fmt: skip
"""A transaction's personal fields, each in a `<field>_enc` column of rows stored before
25 November 2026; newer rows seal them together (`SEALED`)."""
_NOTHING_SEALED = (None,) * len(_TRANSACTION_SEALED)
SEALED = "sealed"
"""A transaction's personal fields sealed in one ciphertext, in `personal_enc` (associated data
`transactions:<id>:sealed`; the other `*_enc` columns NULL): a msgpack array of
`_TRANSACTION_SEALED`'s values. One AES-GCM call per row instead of one per field (each costs
about 1.7 µs, mostly per call), and 28 bytes of nonce and tag per row instead of per field."""
_Sealed = tuple[str | None, str | None, str | None, str | None, str | None, dict[str, str] | None]
_NONE: _Sealed = (None, None, None, None, None, None)
_seal_encoder = msgspec.msgpack.Encoder()
_sealed_decoder = msgspec.msgpack.Decoder(_Sealed)


class RowEncoder:
    """Turns canonical events into row tuples, sealing personal fields with the active key."""

    def __init__(self, keyring: KeyRing, style: ValueStyle) -> None:
        self._keyring = keyring
        self._style = style

    def _seal(self, table: str, row_id: str, field: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        return self._keyring.encrypt(value, _associated(table, row_id, field))

    def _seal_transaction(self, tx: Transaction) -> tuple[tuple[bytes | None, ...], str | None]:
        """The `*_enc` values of the transaction's row (in `_TRANSACTION_SEALED` order: all
        NULL but `personal_enc`, which holds them all, `SEALED`) and the key id."""
        device = tx.device
        plain = (
            tx.customer_name, tx.customer_email, tx.customer_phone, tx.ip_address,
            device.fingerprint if device is not None else None, tx.personal or None,
        )  # fmt: skip
        if plain == _NOTHING_SEALED:
            return _NOTHING_SEALED, None
        associated = f"transactions:{tx.transaction_id}:{SEALED}".encode()
        sealed = self._keyring.seal(_seal_encoder.encode(plain), associated)
        return (None, None, None, None, None, sealed), self._keyring.active_key_id

    def transaction(
        self, tx: Transaction, event_time: Any, ingested_at: Any, digest: bytes | None = None
    ) -> tuple[Any, ...]:
        """The row of `tx`; `event_time` is `tx.event_time` already in the backend's style,
        `digest` its `content_hash`."""
        style, card, merchant, device = self._style, tx.card, tx.merchant, tx.device
        sealed, key_id = self._seal_transaction(tx)
        return (
            tx.transaction_id, event_time, style.money(tx.amount), tx.currency,
            tx.source, card.token if card else None, card.bin if card else None,
            card.last4 if card else None, tx.customer_id, tx.account_id,
            merchant.id if merchant else None, merchant.name if merchant else None,
            merchant.mcc if merchant else None, merchant.country if merchant else None,
            merchant.city if merchant else None, merchant.latitude if merchant else None,
            merchant.longitude if merchant else None, tx.terminal_id,
            tx.channel.value if tx.channel is not None else None, tx.entry_mode,
            device.id if device else None, device.type if device else None,
            device.os if device else None, device.user_agent if device else None,
            tx.billing_country, tx.shipping_country, tx.latitude, tx.longitude,
            style.json(tx.attributes) if tx.attributes else None,
            *sealed, key_id, ingested_at, digest,
        )  # fmt: skip

    def label(self, label: Label, event_time: Any, ingested_at: Any) -> tuple[Any, ...]:
        return (
            label.transaction_id, label.source.value, label.is_fraud, label.fraud_type,
            event_time, self._style.time(label.known_at), ingested_at,
        )  # fmt: skip

    def login(self, login: Login, event_time: Any, ingested_at: Any) -> tuple[Any, ...]:
        lid, device = login.login_id, login.device
        ip = self._seal("logins", lid, "ip_address", login.ip_address)
        fingerprint = self._seal(
            "logins", lid, "device_fingerprint", device.fingerprint if device else None
        )
        key_id = self._keyring.active_key_id if ip is not None or fingerprint is not None else None
        return (
            lid, login.customer_id, event_time, login.success,
            login.source, ip, device.id if device else None, device.type if device else None,
            device.os if device else None, device.user_agent if device else None, fingerprint,
            login.country, login.latitude, login.longitude, key_id, ingested_at,
        )  # fmt: skip

    def decision(self, decision: Decision, event_time: Any, decided_at: Any) -> tuple[Any, ...]:
        """The row of `decision`; both times already in the backend's style."""
        json = self._style.json
        hits = {"fired": decision.rules_hit, "shadow": decision.shadow_hits}
        extra = {"reasons": decision.reasons, "late": decision.late}
        return (
            decision.transaction_id, event_time, decided_at,
            decision.outcome.value, decision.risk_score, decision.model_score,
            decision.anomaly_score, decision.model_version, decision.ruleset_version,
            json(hits), json(extra), json(decision.latency_ms),
        )  # fmt: skip

    def alert(self, alert: Alert, created_at: Any) -> tuple[Any, ...]:
        return (
            alert.alert_key, alert.channel, alert.route, alert.transaction_id,
            self._style.json(alert.payload), "pending", 0, created_at, created_at,
        )  # fmt: skip

    def dead_letter(self, letter: DeadLetter, created_at: Any) -> tuple[Any, ...]:
        sealed = self._keyring.encrypt(letter.raw, _dead_letter_associated(letter))
        return (
            letter.source, letter.format, letter.position, sealed, self._keyring.active_key_id,
            letter.reason, letter.field, mask_pans(letter.message), created_at,
        )  # fmt: skip


def _device(row: RowMapping, fingerprint: str | None) -> Device | None:
    if row["device_id"] is None:
        return None
    return Device(
        id=row["device_id"], type=row["device_type"], os=row["device_os"],
        user_agent=row["device_user_agent"], fingerprint=fingerprint,
    )  # fmt: skip


class RowDecoder:
    """Turns rows read through SQLAlchemy back into canonical events, opening the ciphertexts."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring

    def _open(self, row: RowMapping, table: str, row_id: str, field: str) -> str | None:
        blob = row[f"{field}_enc"]
        if blob is None:
            return None
        key_id = row["pii_key_id"]
        try:
            return self._keyring.decrypt(key_id, bytes(blob), _associated(table, row_id, field))
        except InvalidTag:
            raise StorageError(
                f"cannot decrypt {field} of {table} row {row_id!r} with key {key_id!r}: "
                "wrong key, or the ciphertext does not belong to this row"
            ) from None

    def _sealed(self, row: RowMapping, row_id: str) -> _Sealed:
        """A transaction row's personal fields: sealed together (`SEALED`), or one per column
        (rows stored before), or a row stored before with only `personal` sealed."""
        if any(row[f"{field}_enc"] is not None for field in _TRANSACTION_SEALED[:-1]):
            return self._one_by_one(row, row_id)
        blob = row["personal_enc"]
        if blob is None:
            return _NONE
        associated = f"transactions:{row_id}:{SEALED}".encode()
        try:
            plain = self._keyring.open(row["pii_key_id"], bytes(blob), associated)
        except InvalidTag:
            return self._one_by_one(row, row_id)  # raises if not an older row's either
        fields: _Sealed = _sealed_decoder.decode(plain)
        return fields

    def _one_by_one(self, row: RowMapping, row_id: str) -> _Sealed:
        name, email, phone, ip, fingerprint, personal = (
            self._open(row, "transactions", row_id, field) for field in _TRANSACTION_SEALED
        )
        document = _personal_decoder.decode(personal) if personal else None
        return name, email, phone, ip, fingerprint, document

    def transaction(self, row: RowMapping) -> Transaction:
        tid = row["transaction_id"]
        name, email, phone, ip, fingerprint, personal = self._sealed(row, tid)
        card = (
            Card(token=row["card_token"], bin=row["card_bin"], last4=row["card_last4"])
            if row["card_token"] is not None
            else None
        )
        merchant = (
            Merchant(
                id=row["merchant_id"],
                name=row["merchant_name"],
                mcc=row["merchant_mcc"],
                country=row["merchant_country"],
                city=row["merchant_city"],
                latitude=row["merchant_latitude"],
                longitude=row["merchant_longitude"],
            )
            if row["merchant_id"] is not None
            else None
        )
        channel = row["channel"]
        return Transaction(
            transaction_id=tid, event_time=row["event_time"], amount=row["amount"],
            currency=row["currency"], source=row["source"], card=card,
            customer_id=row["customer_id"], account_id=row["account_id"],
            customer_name=name, customer_email=email, customer_phone=phone,
            merchant=merchant, terminal_id=row["terminal_id"],
            channel=Channel(channel) if channel is not None else None,
            entry_mode=row["entry_mode"],
            device=_device(row, fingerprint),
            ip_address=ip,
            billing_country=row["billing_country"], shipping_country=row["shipping_country"],
            latitude=row["latitude"], longitude=row["longitude"],
            attributes=row["attributes"] or {},
            personal=personal or {},
        )  # fmt: skip

    @staticmethod
    def label(row: RowMapping) -> Label:
        return Label(
            transaction_id=row["transaction_id"], is_fraud=bool(row["is_fraud"]),
            event_time=row["event_time"], known_at=row["known_at"],
            source=LabelSource(row["source"]), fraud_type=row["fraud_type"],
        )  # fmt: skip

    def login(self, row: RowMapping) -> Login:
        lid = row["login_id"]
        return Login(
            login_id=lid, customer_id=row["customer_id"], event_time=row["event_time"],
            success=bool(row["success"]), source=row["source"],
            ip_address=self._open(row, "logins", lid, "ip_address"),
            device=_device(row, self._open(row, "logins", lid, "device_fingerprint")),
            country=row["country"],
            latitude=row["latitude"], longitude=row["longitude"],
        )  # fmt: skip

    @staticmethod
    def decision(row: RowMapping) -> Decision:
        hits, extra = _document(row["rules_hit"]), _document(row["reasons"])
        return Decision(
            transaction_id=row["transaction_id"], event_time=row["event_time"],
            decided_at=row["decided_at"], outcome=Outcome(row["outcome"]),
            risk_score=row["risk_score"], model_score=row["model_score"],
            anomaly_score=row["anomaly_score"], model_version=row["model_version"],
            ruleset_version=row["ruleset_version"], rules_hit=hits.get("fired", []),
            shadow_hits=hits.get("shadow", []), reasons=extra.get("reasons", []),
            latency_ms=_document(row["latency_ms"]), late=bool(extra.get("late", False)),
        )  # fmt: skip

    def dead_letter(self, row: RowMapping) -> DeadLetter:
        letter = DeadLetter(
            id=row["id"], source=row["source"], format=row["format"], position=row["position"],
            raw="", reason=row["reason"], field=row["field"], message=row["message"],
            created_at=row["created_at"],
        )  # fmt: skip
        try:
            letter.raw = self._keyring.decrypt(
                row["pii_key_id"], bytes(row["raw_enc"]), _dead_letter_associated(letter)
            )
        except InvalidTag:
            raise StorageError(
                f"dead letter {row['id']}: raw record fails to decrypt (tampered or wrong key)"
            ) from None
        return letter
