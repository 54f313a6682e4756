"""The ingestion use case: a source format's records -> dedup -> the store, in batches.

Every record a format yields ends in exactly one bucket, so `read = accepted + duplicates +
dead_lettered` holds for every run:

- accepted: at least one of its events is new and none conflicts;
- duplicate: every event was stored before with the same content (replays are idempotent);
- dead-lettered: the format refused it, or an event reuses a known id with different content.

Batches are written in one database transaction together with the source's checkpoint, so an
interrupted run resumes without loss, and a replay of what was written is counted as duplicates.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fraudwatch.errors import RecordError
from fraudwatch.events.deadletter import DeadLetter
from fraudwatch.events.formats.base import Parsed
from fraudwatch.events.model import Event, Label, Login, Transaction, content_hash
from fraudwatch.storage.model import WriteBatch
from fraudwatch.storage.store import EventStore


@dataclass(slots=True)
class IngestReport:
    source: str
    format: str
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.read == self.accepted + self.duplicates + self.dead_lettered

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "read": self.read,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "by_reason": dict(sorted(self.by_reason.items())),
            "events": dict(sorted(self.events.items())),
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.read / self.seconds) if self.seconds else None,
        }


def _key(event: Event) -> tuple[str, str]:
    if isinstance(event, Transaction):
        return "transaction", event.transaction_id
    if isinstance(event, Label):
        return "label", event.label_id
    return "login", event.login_id


class Ingestion:
    """Runs one source into one store; `run` returns the counts."""

    def __init__(
        self,
        store: EventStore,
        *,
        source: str,
        format: str,
        batch_size: int,
        checkpoint_prefix: str = "",
    ) -> None:
        self._store = store
        self._checkpoint_prefix = checkpoint_prefix
        self._source = source
        self._format = format
        self._batch_size = batch_size

    def run(self, records: Iterable[Parsed]) -> IngestReport:
        """Ingest every record; if the source itself fails, what was read is still written."""
        report = IngestReport(source=self._source, format=self._format)
        started = time.perf_counter()
        batch: list[Parsed] = []
        try:
            for record in records:
                batch.append(record)
                if len(batch) >= self._batch_size:
                    self._write(batch, report)
                    batch = []
        finally:
            if batch:
                self._write(batch, report)
            # The load is over: what the store leaves for later between writes (SQLite: the
            # entity index of the last rows) is done now, not by whichever writer comes next.
            self._store.maintain(finish=True)
            report.seconds = time.perf_counter() - started
        return report

    def _known(self, batch: list[Parsed]) -> dict[tuple[str, str], bytes]:
        ids: dict[str, list[str]] = {"transaction": [], "label": [], "login": []}
        for record in batch:
            for event in record.events:
                kind, key = _key(event)
                ids[kind].append(key)
        known: dict[tuple[str, str], bytes] = {}
        for kind, keys in ids.items():
            if keys:
                for key, digest in self._store.known_hashes(kind, keys).items():
                    known[(kind, key)] = digest
        return known

    def _write(self, batch: list[Parsed], report: IngestReport) -> None:
        known = self._known(batch)
        out = WriteBatch()
        for record in batch:
            report.read += 1
            if record.checkpoint is not None:
                key, value = record.checkpoint
                out.checkpoints[self._checkpoint_prefix + key] = value
            error = record.error if record.error is not None else _no_events(record)
            if error is None:
                error = self._place(record, known, out, report)
                if error is None:
                    continue
            report.dead_lettered += 1
            report.by_reason[error.reason] += 1
            out.dead_letters.append(
                DeadLetter.of(
                    error,
                    source=self._source,
                    format=self._format,
                    position=record.position,
                    raw=record.raw,
                )
            )
        self._store.write(out)
        self._store.maintain()  # SQLite: the next part of the entity index, when due

    @staticmethod
    def _place(
        record: Parsed,
        known: dict[tuple[str, str], bytes],
        out: WriteBatch,
        report: IngestReport,
    ) -> RecordError | None:
        fresh: list[tuple[Event, bytes, tuple[str, str]]] = []
        for event in record.events:
            key = _key(event)
            digest = content_hash(event)
            seen = known.get(key)
            if seen is None:
                fresh.append((event, digest, key))
            elif seen != digest:
                return RecordError(
                    "duplicate_conflict",
                    f"{key[0]} id {key[1]!r} was stored before with different content",
                    field="transaction_id" if key[0] != "login" else "login_id",
                )
        if not fresh:
            report.duplicates += 1
            return None
        for event, digest, key in fresh:
            known[key] = digest
            report.events[key[0]] += 1
            if isinstance(event, Transaction):
                out.transactions.append((event, digest))
            elif isinstance(event, Label):
                out.labels.append((event, digest))
            elif isinstance(event, Login):
                out.logins.append((event, digest))
        report.accepted += 1
        return None


def _no_events(record: Parsed) -> RecordError | None:
    if record.events:
        return None
    return RecordError("unparseable", "the record produced no event")
