"""Batches of the online engine against a shared store (`redis_state.RedisState`).

A batch fetches, in one round trip, every state key its transactions touch (the engine's own
`KeyState`s, brought up to date by replaying what other workers appended), the label
bookkeeping of its transactions and fraud labels, and the lateness clock. It then runs the
in-process path over those states, noting per key what it did (`Step`, `Late`, `Mark` entries of
`redis_log`), and commits in one round trip: the entries are appended to the keys' logs, the
records and clock written, all only if nothing the batch read changed meanwhile. Otherwise the
engine's bookkeeping is put back and the batch recomputed from a fresh fetch (`MAX_ATTEMPTS`).

Label bookkeeping lives in Redis (`TxRecord` per transaction): a label applies to the state keys
its transaction joined, whichever worker saw it; a fraud label known before its transaction is
kept in the record until the transaction arrives. Marks for keys the batch did not fetch are
appended without a check (adding a fraud mark commutes with every other entry).
"""

from __future__ import annotations

from array import array
from bisect import insort
from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from fraudwatch.features.online.compiled import Values
from fraudwatch.features.online.overlay import Bookmark, entity_key
from fraudwatch.features.online.redis_log import encode_mark, encode_row, encode_step
from fraudwatch.features.online.redis_state import (
    Batch,
    Fetched,
    RedisState,
    TxRecord,
    encode_record,
)
from fraudwatch.features.online.state import InProcessState, StateConflict, StateKey
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow

if TYPE_CHECKING:
    from fraudwatch.features.online.engine import OnlineEngine

STEP, LATE = 1, 2
Rows = tuple[Values, list[int], list[int]]


class SharedBatch:
    """One batch of stream items against a `RedisState` (see the module docstring)."""

    def __init__(self, engine: OnlineEngine, store: RedisState, items: Sequence[StreamItem]):
        self.engine, self.store, self.items = engine, store, items
        groups = [(c.group.index, c.group.key_fields) for c in engine.groups]
        self.label_matches = {c.group.index: c.matches for c in engine.label_groups}
        labels = bool(self.label_matches)
        keys: dict[StateKey, None] = {}
        ids: dict[str, None] = {}
        self.tx_keys: list[list[StateKey]] = []
        for item in items:
            if type(item) is LabelRow:
                if item.is_fraud and labels:
                    ids[item.transaction_id] = None
                continue
            assert isinstance(item, TxRow)
            mine = []
            for index, fields in groups:
                key = entity_key(item, fields)
                if key is not None:
                    mine.append((index, key))
            keys.update(dict.fromkeys(mine))
            self.tx_keys.append(mine)
            if labels:
                ids[item.transaction_id] = None
        self.keys = list(keys)
        self.ids = list(ids)

    def run(self) -> Rows:
        """The batch's rows (as `OnlineEngine._rows`), committed to the store."""
        engine, store = self.engine, self.store
        before = Bookmark.take(engine, self.items)
        engine.deferring = True
        try:
            for attempt in range(MAX_ATTEMPTS):
                fetched = store.fetch(self.keys, self.ids)
                try:
                    out, batch = self._attempt(fetched)
                    store.commit(batch)
                except StateConflict:
                    before.restore(engine, keep_recent=True)
                    if attempt == MAX_ATTEMPTS - 1:
                        raise
                    continue
                break
        finally:
            engine.deferring = False
        if engine.sweep_due:
            engine.sweep()
        return out

    def _attempt(self, fetched: Fetched) -> tuple[Rows, Batch]:
        engine = self.engine
        engine._merge_clock(fetched.clock)
        fraud_since, recent = engine.fraud_since, engine.recent
        for tx_id, (ts, known_at) in fetched.learned.items():
            if tx_id not in fraud_since:
                recent.append((ts, tx_id))
            fraud_since[tx_id] = known_at
        records = {i: r for i, (_, r) in fetched.records.items() if r is not None}
        for tx_id, record in records.items():
            if record.ts is None and record.pending is not None:
                engine.pending[tx_id] = record.pending
        batch = Batch(fetched)
        overlay = InProcessState()
        overlay.states = fetched.states  # new states land in it too
        engine.store = overlay
        try:
            out = self._rows(batch, records)
        finally:
            engine.store = self.store
        batch.clock = (engine.newest, engine.max_time, engine.max_label_ts)
        return out, batch

    def _rows(self, batch: Batch, records: dict[str, TxRecord]) -> Rows:
        engine = self.engine
        states, entries = batch.fetched.states, batch.entries
        fraud_since, label_matches = engine.fraud_since, self.label_matches
        rows: Values = array("d")
        seqs: list[int] = []
        late: list[int] = []
        keyed = iter(self.tx_keys)
        for item in self.items:
            if type(item) is LabelRow:
                self._label(item, batch, records)
                continue
            assert isinstance(item, TxRow)
            keys = next(keyed)
            ordered = (item.ts, item.seq) >= engine.newest and item.ts >= engine.max_label_ts
            values = engine._transaction(item)
            if values is None:
                late.append(len(seqs))
                values = engine.blank
            else:
                tx_id = item.transaction_id
                fraud = fraud_since.get(tx_id)
                entry = encode_step(STEP if ordered else LATE, fraud, msgspec.Raw(encode_row(item)))
                for key in keys:
                    if key in states:
                        found = entries.get(key)
                        if found is None:
                            entries[key] = [entry]
                        else:
                            found.append(entry)
                if label_matches:
                    joined = [
                        k for k in keys if k[0] in label_matches and label_matches[k[0]](item)
                    ]
                    record = TxRecord(item.ts, item.seq, joined, fraud, None)  # type: ignore[arg-type]
                    records[tx_id] = batch.records[tx_id] = record
            rows.extend(values)
            seqs.append(item.seq)
        return rows, seqs, late

    def _label(self, label: LabelRow, batch: Batch, records: dict[str, TxRecord]) -> None:
        """`OnlineEngine._label` with the transaction's record from the store."""
        engine = self.engine
        engine.max_time = max(engine.max_time, label.known_at)
        engine.max_label_ts = max(engine.max_label_ts, label.known_at)
        if not label.is_fraud or not self.label_matches:
            return
        tx_id, known_at = label.transaction_id, label.known_at
        record = records.get(tx_id)
        if record is None or record.ts is None or record.seq is None:
            pending = None if record is None else record.pending
            earliest = known_at if pending is None else min(pending, known_at)
            records[tx_id] = batch.records[tx_id] = TxRecord(None, None, [], None, earliest)
            engine.pending[tx_id] = earliest
            return
        ts, seq = record.ts, record.seq
        if known_at < ts - engine.plan.horizon_us:
            return
        first = record.first
        record.first = known_at if first is None else min(first, known_at)
        batch.records[tx_id] = record
        if tx_id not in engine.fraud_since:
            engine.recent.append((ts, tx_id))
        engine.fraud_since[tx_id] = record.first
        if first is not None:
            return
        mark = encode_mark(ts, seq, tx_id, known_at)
        fetched = self.keys_set
        for key in record.state_keys():
            if key in fetched:
                state = batch.fetched.states.get(key)
                if state is not None:  # no state then: the label reaches nothing (as in-process)
                    insort(state.frauds, (ts, seq))
                    batch.entries.setdefault(key, []).append(mark)
            else:
                batch.blind.setdefault(key, []).append(mark)

    @property
    def keys_set(self) -> set[StateKey]:
        found: set[StateKey] | None = getattr(self, "_keys_set", None)
        if found is None:
            found = self._keys_set = set(self.keys)
        return found


MAX_ATTEMPTS = 5  # of a batch against a shared store that keeps refusing its commit


def rows_shared(engine: OnlineEngine, items: Sequence[StreamItem]) -> Rows:
    """`OnlineEngine._rows` over a shared `RedisState` (module docstring)."""
    store = engine.store
    assert isinstance(store, RedisState)
    return SharedBatch(engine, store, items).run()


def records_of(
    engine: OnlineEngine,
    transactions: dict[str, TxRow],
    fraud_since: dict[str, int],
    pending: dict[str, int],
) -> list[tuple[str, bytes]]:
    """In-process label bookkeeping as transaction records (restoring onto a shared store)."""
    out = []
    for tx_id, row in transactions.items():
        joined = []
        for compiled in engine.label_groups:
            key = entity_key(row, compiled.group.key_fields)
            if key is not None and compiled.matches(row):
                joined.append((compiled.group.index, key))
        record = TxRecord(row.ts, row.seq, joined, fraud_since.get(tx_id), None)  # type: ignore[arg-type]
        out.append((tx_id, encode_record(record)))
    for tx_id, known_at in pending.items():
        out.append((tx_id, encode_record(TxRecord(None, None, [], None, known_at))))
    return out
