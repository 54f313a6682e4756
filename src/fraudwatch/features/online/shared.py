"""Batches of the online engine against a shared store (`redis_state.RedisState`).

A batch fetches, in one round trip, what other workers wrote since this one's last batch (the
store replays it onto its replica of the engine's `KeyState`s and transaction records) and the
shared lateness clock. It then runs the in-process path over the replica, noting per state key
what it did (`Step`, `Late`, `Mark` entries of `redis_log`) and which transaction records it
changed, and commits them in one round trip, only if nobody wrote meanwhile. Otherwise the
engine's bookkeeping is put back and the batch recomputed from a fresh fetch (`MAX_ATTEMPTS`).

Label bookkeeping is shared (`TxRecord` per transaction): a label applies to the state keys its
transaction joined, whichever worker saw it; a fraud label known before its transaction waits
in the record until the transaction arrives.
"""

from __future__ import annotations

from array import array
from bisect import insort
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from fraudwatch.features.online.compiled import Values
from fraudwatch.features.online.overlay import Bookmark, entity_key
from fraudwatch.features.online.redis_log import TxRecord, encode_mark, encode_step
from fraudwatch.features.online.redis_state import Batch, Fetched, RedisState
from fraudwatch.features.online.state import EntityKey, InProcessState, StateConflict
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow

if TYPE_CHECKING:
    from fraudwatch.features.online.engine import OnlineEngine

STEP, LATE = 1, 2
Rows = tuple[Values, list[int], list[int]]


class SharedBatch:
    """One batch of stream items against a `RedisState` (see the module docstring)."""

    def __init__(self, engine: OnlineEngine, store: RedisState, items: Sequence[StreamItem]):
        self.engine, self.store, self.items = engine, store, items
        self.labels = bool(engine.label_groups)
        self.note = _note_function(engine)

    def run(self) -> Rows:
        """The batch's rows (as `OnlineEngine._rows`), committed to the store."""
        engine, store = self.engine, self.store
        before = Bookmark.take(engine, self.items)
        engine.deferring = True
        try:
            for attempt in range(MAX_ATTEMPTS):
                fetched = store.fetch()
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
        if self.labels:
            records = fetched.records
            for item in self.items:
                record = records.get(item.transaction_id)
                if type(item) is TxRow and record is not None and record.ts is None:
                    engine.pending[item.transaction_id] = record.time
        batch = self.store.batch()
        overlay = InProcessState()
        overlay.states = fetched.states  # the replica: new states land in it too
        engine.store = overlay
        try:
            out = self._rows(batch, fetched)
        finally:
            engine.store = self.store
        batch.clock = (engine.newest, engine.max_time, engine.max_label_ts)
        return out, batch

    def _rows(self, batch: Batch, fetched: Fetched) -> Rows:
        engine = self.engine
        states, entries, records = fetched.states, batch.entries, batch.records
        placed, bucket = self.store.placed, self.store.bucket
        fraud_since, labels, note = engine.fraud_since, self.labels, self.note
        rows: Values = array("d")
        seqs: list[int] = []
        late: list[int] = []
        for item in self.items:
            if type(item) is LabelRow:
                self._label(item, batch, fetched)
                continue
            assert isinstance(item, TxRow)
            ordered = (item.ts, item.seq) >= engine.newest and item.ts >= engine.max_label_ts
            values = engine._transaction(item)
            if values is None:
                late.append(len(seqs))
                values = engine.blank
            else:
                tx_id = item.transaction_id
                fraud = fraud_since.get(tx_id)
                entry = encode_step(STEP if ordered else LATE, fraud, item)
                joined = note(item, entry, states, placed, bucket, entries)
                if labels:
                    record = TxRecord(tx_id, item.ts, item.seq, joined, fraud, None)  # type: ignore[arg-type]
                    records[tx_id] = record
            rows.extend(values)
            seqs.append(item.seq)
        return rows, seqs, late

    def _label(self, label: LabelRow, batch: Batch, fetched: Fetched) -> None:
        """`OnlineEngine._label` with the transaction's shared record."""
        engine = self.engine
        engine.max_time = max(engine.max_time, label.known_at)
        engine.max_label_ts = max(engine.max_label_ts, label.known_at)
        if not label.is_fraud or not self.labels:
            return
        tx_id, known_at = label.transaction_id, label.known_at
        record = batch.records.get(tx_id) or fetched.records.get(tx_id)
        if record is None or record.ts is None or record.seq is None:
            pending = None if record is None else record.pending
            earliest = known_at if pending is None else min(pending, known_at)
            batch.records[tx_id] = TxRecord(tx_id, None, None, [], None, earliest)
            engine.pending[tx_id] = earliest
            return
        ts, seq = record.ts, record.seq
        if known_at < ts - engine.plan.horizon_us:
            return
        first = record.first
        since = known_at if first is None else min(first, known_at)
        batch.records[tx_id] = msgspec.structs.replace(record, first=since)
        if tx_id not in engine.fraud_since:
            engine.recent.append((ts, tx_id))
        engine.fraud_since[tx_id] = since
        if first is not None:
            return
        mark = encode_mark(ts, seq, tx_id, known_at)
        for key in record.state_keys():
            state = fetched.states.get(key)
            if state is not None:  # no state: the label reaches nothing (as in-process)
                insort(state.frauds, (ts, seq))
                batch.entries[self.store.bucket(key)].append((key[0], key[1], mark))


MAX_ATTEMPTS = 5  # of a batch against a shared store that keeps refusing its commit
Note = Callable[..., list[tuple[int, EntityKey]]]


def _note_function(engine: OnlineEngine) -> Note:
    """`note(row, entry, states, placed, bucket, entries)`: append `(group, entity key,
    entry)` to its bucket's list for every key of `row` whose state exists after the row
    (always, for groups without a filter), and return the label-aware keys the row joined.
    Generated once per engine (`engine.note`), unrolled over the groups like its dispatch."""
    if engine.note is not None:
        found: Note = engine.note
        return found
    namespace: dict[str, Any] = {}
    body = ["joined = []"]
    for c in engine.groups:
        g = c.group
        i = g.index
        names = [f"k{i}_{j}" for j in range(len(g.key_fields))]
        body += [f"{name} = row.{field}" for name, field in zip(names, g.key_fields, strict=True)]
        test = " and ".join(f"{name} is not None" for name in names)
        entity = names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"
        block = [f"e = {entity}"]
        keyed = g.where is not None or g.labels
        if keyed:
            block.append(f"key = ({i}, e)")
        inner = [f"b = placed[{i}].get(e)", "if b is None:", f"    b = bucket(({i}, e))"]
        inner.append(f"entries[b].append(({i}, e, entry))")
        if g.labels:
            namespace[f"_match{i}"] = c.matches
            inner += ["joined.append(key)"] if g.where is None else [f"if _match{i}(row):"]
            inner += [] if g.where is None else ["    joined.append(key)"]
        if g.where is not None:
            block += ["if key in states:", *("    " + line for line in inner)]
        else:
            block += inner
        body += [f"if {test}:", *("    " + line for line in block)]
    lines = ["def note(row, entry, states, placed, bucket, entries):"]
    lines += ["    " + line for line in [*body, "return joined"]]
    exec(compile("\n".join(lines), "<fraudwatch note>", "exec"), namespace)  # noqa: S102
    found = engine.note = namespace["note"]
    return found


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
) -> list[TxRecord]:
    """In-process label bookkeeping as transaction records (restoring onto a shared store)."""
    out = []
    for tx_id, row in transactions.items():
        joined = []
        for compiled in engine.label_groups:
            key = entity_key(row, compiled.group.key_fields)
            if key is not None and compiled.matches(row):
                joined.append((compiled.group.index, key))
        first = fraud_since.get(tx_id)
        out.append(TxRecord(tx_id, row.ts, row.seq, joined, first, None))  # type: ignore[arg-type]
    for tx_id, known_at in pending.items():
        out.append(TxRecord(tx_id, None, None, [], None, known_at))
    return out
