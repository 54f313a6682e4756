"""A write batch made ready for a backend: per table, the dedup keys and lazily encoded rows.

Keys `(id, content hash, time)` are computed up front, cheaply, so a backend can ask `event_keys`
which events are new before paying for their encryption. Rows are encoded (and their personal
fields encrypted) only when the backend iterates `rows()`: on PostgreSQL that happens while COPY
streams, so the client encrypts while the server inserts the previous rows. An id repeated in a
batch keeps its first occurrence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fraudwatch.decisions.model import decision_digest
from fraudwatch.storage.codec import (
    ALERT_COLUMNS,
    DEAD_LETTER_COLUMNS,
    DECISION_COLUMNS,
    LABEL_COLUMNS,
    LOGIN_COLUMNS,
    TRANSACTION_COLUMNS,
    RowEncoder,
    ValueStyle,
    dead_letter_key,
)
from fraudwatch.storage.model import (
    ALERT,
    DEAD_LETTER,
    DECISION,
    LABEL,
    LOGIN,
    TRANSACTION,
    StorageError,
    WriteBatch,
)


@dataclass(slots=True)
class KeyedRows:
    """The events bound for one table, each with its key in `event_keys`."""

    kind: str
    table: str
    columns: tuple[str, ...]
    encode: Callable[[Any, Any], tuple[Any, ...]]
    """(event, its time in the backend's style) -> row"""
    keys: list[tuple[str, bytes, Any]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def add(self, key_id: str, digest: bytes, moment: Any, event: Any) -> None:
        if key_id not in self._seen:
            self._seen.add(key_id)
            self.keys.append((key_id, digest, moment))
            self.events.append(event)

    def rows(self, fresh: Container[str] | None = None) -> Iterator[tuple[Any, ...]]:
        """Encoded rows in batch order; only those whose id is in `fresh`, when given.

        The key's time is the row's time column, already in the backend's style: reusing it
        saves formatting every timestamp twice.
        """
        encode = self.encode
        for key, event in zip(self.keys, self.events, strict=True):
            if fresh is None or key[0] in fresh:
                yield encode(event, key[2])


def _memoised(time: Callable[[datetime], Any]) -> Callable[[datetime], Any]:
    """`time` remembering what it formatted in this batch (a transaction and its decision have
    the same time, a batch's decisions one decision time, and event times repeat)."""
    seen: dict[datetime, Any] = {}

    def cached(moment: datetime) -> Any:
        found = seen.get(moment)
        if found is None:
            found = seen[moment] = time(moment)
        return found

    return cached


def prepare(
    batch: WriteBatch, encoder: RowEncoder, style: ValueStyle, *, decision_digests: bool = True
) -> list[KeyedRows]:
    """Split a batch by table; refuse it whole if a transaction still carries a card number.
    Without `decision_digests`, the decisions' keys carry an empty digest (for a backend that
    keeps no registry row for a decision)."""
    now, time = style.time(datetime.now(UTC)), _memoised(style.time)
    txs = KeyedRows(
        TRANSACTION,
        "transactions",
        TRANSACTION_COLUMNS,
        lambda pair, at: encoder.transaction(pair[0], at, now, pair[1]),
    )
    for tx, digest in batch.transactions:
        if tx.card is not None and tx.card.number is not None:
            raise StorageError(
                f"transaction {tx.transaction_id} still carries a card number; "
                "tokenise it before storing"
            )
        txs.add(tx.transaction_id, digest, time(tx.event_time), (tx, digest))
    labels = KeyedRows(LABEL, "labels", LABEL_COLUMNS, partial(encoder.label, ingested_at=now))
    for label, digest in batch.labels:
        labels.add(label.label_id, digest, time(label.event_time), label)
    logins = KeyedRows(LOGIN, "logins", LOGIN_COLUMNS, partial(encoder.login, ingested_at=now))
    for login, digest in batch.logins:
        logins.add(login.login_id, digest, time(login.event_time), login)
    letters = KeyedRows(DEAD_LETTER, "dead_letters", DEAD_LETTER_COLUMNS, encoder.dead_letter)
    for letter in batch.dead_letters:
        key = dead_letter_key(letter)
        letters.add(key.hex(), key, time(letter.created_at), letter)
    decisions = KeyedRows(
        DECISION,
        "decisions",
        DECISION_COLUMNS,
        lambda decision, at: encoder.decision(decision, at, time(decision.decided_at)),
    )
    for decision in batch.decisions:
        digest = decision_digest(decision) if decision_digests else b""
        decisions.add(decision.transaction_id, digest, time(decision.event_time), decision)
    alerts = KeyedRows(ALERT, "alert_outbox", ALERT_COLUMNS, encoder.alert)
    for alert in batch.alerts:
        digest = hashlib.blake2b(alert.alert_key.encode(), digest_size=16).digest()
        alerts.add(alert.alert_key, digest, time(alert.created_at), alert)
    return [txs, labels, logins, letters, decisions, alerts]
