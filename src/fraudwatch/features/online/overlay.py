"""Helpers of the engine's batches against a remote `StateStore` (see `engine`).

`batch_keys` lists every state key a batch can touch, so one `load` fetches them all;
`Bookmark` records what a batch can change in the engine's own bookkeeping (with sweeps deferred
to after the batch: the clock, entries appended to `recent`, and the entries of the batch's
transaction ids in `transactions`, `fraud_since` and `pending`) and puts it back before a retry.
Both cost O(batch), never O(state).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from fraudwatch.features.online.state import EntityKey, StateKey
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow

if TYPE_CHECKING:
    from fraudwatch.features.online.engine import OnlineEngine


def entity_key(row: TxRow, fields: tuple[str, ...]) -> EntityKey | None:
    """The row's key in a group keyed by `fields`; None when any part is null."""
    if len(fields) == 1:
        value: str | None = getattr(row, fields[0])
        return value
    parts = tuple(getattr(row, name) for name in fields)
    return None if None in parts else parts


def batch_keys(engine: OnlineEngine, items: Sequence[StreamItem]) -> list[StateKey]:
    """The batch's transactions' keys in every group, and the label-aware keys of remembered
    transactions that its fraud labels mark (a label of a transaction of the same batch marks
    keys already listed)."""
    keys: dict[StateKey, None] = {}
    groups = [(c.group.index, c.group.key_fields) for c in engine.groups]
    for item in items:
        if type(item) is LabelRow:
            row = engine.transactions.get(item.transaction_id) if item.is_fraud else None
            if row is not None:
                for compiled in engine.label_groups:
                    key = entity_key(row, compiled.group.key_fields)
                    if key is not None and compiled.matches(row):
                        keys[(compiled.group.index, key)] = None
            continue
        assert isinstance(item, TxRow)
        for index, fields in groups:
            key = entity_key(item, fields)
            if key is not None:
                keys[(index, key)] = None
    return list(keys)


V = TypeVar("V")
Entry = tuple[TxRow | None, int | None, int | None]


@dataclass
class Bookmark:
    """The engine's bookkeeping before a batch, as far as the batch can change it."""

    clock: tuple[tuple[int, int], int, int, int]
    recent: int
    entries: dict[str, Entry]

    @classmethod
    def take(cls, engine: OnlineEngine, items: Sequence[StreamItem]) -> Bookmark:
        tx, frauds, pending = engine.transactions, engine.fraud_since, engine.pending
        entries = {}
        for item in items:
            i = item.transaction_id
            entries[i] = (tx.get(i), frauds.get(i), pending.get(i))
        clock = (engine.newest, engine.max_time, engine.max_label_ts, engine.events)
        return cls(clock, len(engine.recent), entries)

    def restore(self, engine: OnlineEngine, *, keep_recent: bool = False) -> None:
        """Put the bookkeeping back; `keep_recent` leaves entries appended to `recent` (expiry
        of first-fraud times learned meanwhile, harmless for those put back)."""
        engine.newest, engine.max_time, engine.max_label_ts, engine.events = self.clock
        engine.sweep_due = False
        while not keep_recent and len(engine.recent) > self.recent:
            engine.recent.pop()
        for tx_id, (row, first, pending) in self.entries.items():
            _put(engine.transactions, tx_id, row)
            _put(engine.fraud_since, tx_id, first)
            _put(engine.pending, tx_id, pending)


def _put(table: dict[str, V], key: str, value: V | None) -> None:
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value
