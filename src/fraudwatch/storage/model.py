"""What goes into and comes out of the event store: the write batch, the summary, the errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final

import msgspec

from fraudwatch.alerts.model import Alert
from fraudwatch.decisions.model import Decision
from fraudwatch.errors import FraudwatchError
from fraudwatch.events.deadletter import DeadLetter
from fraudwatch.events.model import Label, Login, Transaction

TRANSACTION: Final = "transaction"
LABEL: Final = "label"
LOGIN: Final = "login"
DEAD_LETTER: Final = "dead_letter"
DECISION: Final = "decision"
ALERT: Final = "alert"
EVENT_KINDS: Final = (TRANSACTION, LABEL, LOGIN, DECISION)
"""Kinds of `event_keys` rows a caller may ask about; a label's id is `Label.label_id`."""


class StorageError(FraudwatchError):
    """The store refused a write or cannot read a row back (e.g. a ciphertext fails to decrypt)."""

    code = "storage_error"


@dataclass(slots=True)
class WriteBatch:
    """Everything one ingestion step stores, written in ONE database transaction.

    Events come with their content hash (`fraudwatch.events.model.content_hash`), recorded in the
    dedup registry. Writing is idempotent: an event whose id is already stored (or repeated in the
    batch) is skipped, the first one wins; so is a dead letter with the same source, format,
    position and raw text. Checkpoints are upserted, so an incremental source's position commits
    exactly when its events do.
    """

    transactions: list[tuple[Transaction, bytes]] = field(default_factory=list)
    labels: list[tuple[Label, bytes]] = field(default_factory=list)
    logins: list[tuple[Login, bytes]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    checkpoints: dict[str, str] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)  # the first per transaction wins
    alerts: list[Alert] = field(default_factory=list)  # outbox entries, one per key
    # (transaction id, event time, feature name -> value or None): what a flagged decision saw
    decision_features: list[tuple[str, datetime, dict[str, float | None]]] = field(
        default_factory=list
    )

    def __len__(self) -> int:
        return (
            len(self.transactions)
            + len(self.labels)
            + len(self.logins)
            + len(self.dead_letters)
            + len(self.checkpoints)
            + len(self.decisions)
            + len(self.alerts)
            + len(self.decision_features)
        )


class SourceTotals(msgspec.Struct, kw_only=True):
    """Transactions of one source: how many, and the amount sum per currency."""

    transactions: int
    amounts: dict[str, Decimal]


class StoreSummary(msgspec.Struct, kw_only=True):
    """What is stored, for `fraudwatch summary` and the demo."""

    transactions: int
    sources: dict[str, SourceTotals]
    first_event_time: datetime | None
    last_event_time: datetime | None
    labels: int
    fraud_labels: int
    fraud_by_type: dict[str, int]
    """Fraud labels per `fraud_type`; labels without one count as "unspecified"."""
    logins: int
    dead_letters: int
    dead_letters_by_reason: dict[str, int]
