"""Loading history for the feature engines: any ingest format -> time-ordered feature rows.

`fraudwatch features build` and `fraudwatch features parity` read the same files `fraudwatch
ingest` reads. Records a format refuses are counted (by reason), not silently dropped; they are
not features' business to store — ingest them to keep them in the dead-letter store. History can
also come from the system of record itself (`--format store`).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from fraudwatch.events.formats.base import IngestContext, get_format
from fraudwatch.events.model import Label, Transaction
from fraudwatch.features.definitions import FeatureSet, PassThrough
from fraudwatch.features.enrich.ip import IpLocator
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow, label_row, merge_stream, tx_row
from fraudwatch.storage.store import EventStore


@dataclass
class History:
    """The transactions and labels of a source, as feature rows, plus what was refused."""

    transactions: list[TxRow] = field(default_factory=list)
    labels: list[LabelRow] = field(default_factory=list)
    read: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def stream(self) -> list[StreamItem]:
        return merge_stream(self.transactions, self.labels)

    def attribute_names(self, limit: int = 1000) -> list[str]:
        """Numeric attributes present in the first `limit` transactions (for pass-through)."""
        names: dict[str, None] = {}
        for row in self.transactions[:limit]:
            for name in row.attributes:
                names.setdefault(name, None)
        return list(names)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading builds millions of long-lived objects: the cyclic garbage collector would rescan
    them again and again (about a third of the time) while finding nothing to free."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_history(format: str, location: str, ctx: IngestContext, locator: IpLocator) -> History:
    with _collector_paused():
        return _load(format, location, ctx, locator)


def _load(format: str, location: str, ctx: IngestContext, locator: IpLocator) -> History:
    history = History()
    seen: set[str] = set()
    for record in get_format(format).read(location, ctx):
        history.read += 1
        if record.error is not None:
            history.refused[record.error.reason] += 1
            continue
        _add(history, record.events, seen, locator)
    return history


def _add(
    history: History,
    events: Iterable[object],
    seen: set[str],
    locator: IpLocator,
) -> None:
    for event in events:
        if isinstance(event, Transaction):
            if event.transaction_id in seen:
                history.refused["duplicate"] += 1
                continue
            seen.add(event.transaction_id)
            history.transactions.append(tx_row(event, len(history.transactions), locator))
        elif isinstance(event, Label):
            history.labels.append(label_row(event))


def with_pass_through(feature_set: FeatureSet, attributes: Iterable[str]) -> FeatureSet:
    """The set plus a pass-through feature per attribute it does not already cover."""
    present = set(feature_set.names)
    extra = [PassThrough(name) for name in attributes if PassThrough(name).name not in present]
    return feature_set.with_definitions(extra) if extra else feature_set


def summary(history: History) -> Mapping[str, object]:
    return {
        "read": history.read,
        "transactions": len(history.transactions),
        "labels": len(history.labels),
        "refused": dict(sorted(history.refused.items())),
    }


def load_history_from_store(
    store: EventStore,
    locator: IpLocator,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> History:
    """The stored transactions in [start, end) and every label known before `end`."""
    with _collector_paused():
        return _load_store(store, locator, start, end)


def _load_store(
    store: EventStore, locator: IpLocator, start: datetime | None, end: datetime | None
) -> History:
    history = History()
    seen: set[str] = set()
    for tx in store.iter_transactions(start=start, end=end):
        history.read += 1
        _add(history, (tx,), seen, locator)
    for label in store.iter_labels(end=end):
        history.read += 1
        _add(history, (label,), seen, locator)
    return history
