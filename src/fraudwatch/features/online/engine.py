"""The in-process online feature engine: one event in, its feature vector out, state updated.

Per transaction, each (entity, filter) group loads its key's state once, advances all its windows
together and fills its columns (see `plan`, `windows`, `outputs`). Labels mark transactions as
fraud from their first `is_fraud` label; a map of recent transactions (kept for the horizon)
attributes a label arriving later to the keys of its transaction.

Out of order: a transaction behind the newest order key seen (or behind a label already applied)
but at most `allowed_lateness_s` behind the newest time is inserted at its place in each key's
events; its own features are computed from what had arrived (by the reference formulas over the
key's retained events) and the key's windows are rebuilt. Anything later is rejected
(`late_event`) for the caller to dead-letter. Labels are never late: they apply when they arrive.

A shared `RedisState`: `process_batch` fetches what other workers wrote, runs the in-process
path over the store's replica with the shared label bookkeeping and lateness clock, and commits
what it did; a refused commit (`StateConflict`) rolls the engine's bookkeeping back and the batch
is recomputed (`shared`). Any other `StateStore`: `process_batch` loads every state key the
batch touches in one `load`, runs the in-process path over an overlay of those states and saves
them in one `save`, retried the same way; its label bookkeeping and clock stay in the engine.
`process` is a batch of one on both.
"""

from __future__ import annotations

import gc
import math
import pickle
from array import array
from bisect import insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fraudwatch.errors import FraudwatchError
from fraudwatch.features.definitions import FeatureSet, WindowFeature
from fraudwatch.features.online.compiled import (
    CompiledGroup,
    Values,
    compile_dispatch,
    compile_group,
    insert_late,
)
from fraudwatch.features.online.overlay import Bookmark, batch_keys
from fraudwatch.features.online.overlay import entity_key as _key
from fraudwatch.features.online.plan import compile_plan
from fraudwatch.features.online.redis_log import TxRecord
from fraudwatch.features.online.redis_state import Clock, RedisState
from fraudwatch.features.online.shared import records_of, rows_shared
from fraudwatch.features.online.state import (
    InProcessState,
    StateConflict,
    StateKey,
    StateStore,
)
from fraudwatch.features.online.windows import KeyState
from fraudwatch.features.reference import derived_value, window_value
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow

NAN = math.nan
LATE_EVENT = "late_event"
SNAPSHOT_FORMAT = 2
SWEEP_EVERY = 256
MAX_ATTEMPTS = 5  # of a batch against a shared store that keeps refusing its save


class SnapshotError(FraudwatchError):
    """A snapshot cannot be restored (other format or other feature set version)."""

    code = "bad_snapshot"


@dataclass
class FeatureResult:
    """Features of one transaction (`values` in `feature_set.names` order), or a rejection."""

    seq: int
    transaction_id: str
    values: npt.NDArray[np.float64] | None
    rejected: str | None = None  # "late_event" when too late to process


@dataclass
class BatchResult:
    """One row of features per transaction of the batch, in order; late rows are NaN."""

    matrix: npt.NDArray[np.float64]  # (transactions, features), `feature_set.names` order
    seqs: list[int]
    late: list[int] = field(default_factory=list)  # row indices rejected as `late_event`

    @property
    def values(self) -> npt.NDArray[np.float64]:
        """The same matrix (the name `FeatureResult` uses for one row)."""
        return self.matrix


class OnlineEngine:
    """Exact sliding-window features per event, with bounded, snapshot-able state."""

    def __init__(
        self,
        feature_set: FeatureSet,
        *,
        allowed_lateness_s: int = 0,
        state: StateStore | None = None,
    ) -> None:
        self.feature_set = feature_set
        self.plan = compile_plan(feature_set)
        self.lateness_us = allowed_lateness_s * 1_000_000
        self.store: StateStore = state if state is not None else InProcessState()
        self.width = len(self.plan.names)
        self.blank: Values = array("d", [NAN] * self.width)
        self.groups = [compile_group(g, self.plan.horizon_us) for g in self.plan.groups]
        self.dispatch = compile_dispatch(self.plan, self.groups)
        self.label_groups = [c for c in self.groups if c.group.labels]
        self.newest: tuple[int, int] = (-(2**62), -1)  # latest transaction order key
        self.max_time = -(2**62)  # latest time seen, transactions and labels
        self.max_label_ts = -(2**62)
        self.transactions: dict[str, TxRow] = {}  # recent transactions, for labels
        self.recent: deque[tuple[int, str]] = deque()  # (ts, transaction_id) for expiry
        self.fraud_since: dict[str, int] = {}  # transaction_id -> known_at of first fraud label
        self.pending: dict[str, int] = {}  # fraud labels of transactions not seen yet
        self.events = 0
        self.remote = not isinstance(self.store, InProcessState)
        self.shared = isinstance(self.store, RedisState)  # label bookkeeping in the store too
        self.note: Any = None  # `shared` generates it on first use
        if isinstance(self.store, RedisState):
            self.store.bind(
                self.groups,
                version=feature_set.version,
                horizon_us=self.plan.horizon_us,
                lateness_us=self.lateness_us,
                width=self.width,
            )
        self.deferring = False  # inside a batch on a remote store: sweep after its save
        self.sweep_due = False

    # --- the public API ----------------------------------------------------------------------

    def process(self, item: StreamItem) -> FeatureResult | None:
        """Apply a label (returns None) or compute and account one transaction."""
        if self.remote:
            return self._process_remote(item)
        if isinstance(item, LabelRow):
            self._label(item)
            return None
        values = self._transaction(item)
        if values is None:
            return FeatureResult(item.seq, item.transaction_id, None, LATE_EVENT)
        return FeatureResult(item.seq, item.transaction_id, np.array(values, dtype=np.float64))

    def process_batch(self, items: Sequence[StreamItem]) -> BatchResult:
        """`process` over a batch: exactly the one-by-one results, as one float64 matrix."""
        collecting = gc.isenabled()
        if collecting:  # no reference cycles are made here; a full collection rescans all state
            gc.disable()
        try:
            if self.shared:
                rows, seqs, late = rows_shared(self, items)
            elif self.remote:
                rows, seqs, late = self._rows_remote(items)
            else:
                rows, seqs, late = self._rows(items)
        finally:
            if collecting:
                gc.enable()
        matrix = np.array(rows, dtype=np.float64).reshape(len(seqs), self.width)
        return BatchResult(matrix, seqs, late)

    def _rows(self, items: Sequence[StreamItem]) -> tuple[Values, list[int], list[int]]:
        """The rows of the batch's transactions, concatenated, their seqs and the late ones."""
        rows: Values = array("d")
        seqs: list[int] = []
        late: list[int] = []
        blank = self.blank
        transaction, label, extend = self._transaction, self._label, rows.extend
        for item in items:
            if type(item) is LabelRow:
                label(item)
                continue
            assert isinstance(item, TxRow)
            values = transaction(item)
            if values is None:
                late.append(len(seqs))
                values = blank
            extend(values)
            seqs.append(item.seq)
        return rows, seqs, late

    # --- batches against a remote store -------------------------------------------------------

    def _process_remote(self, item: StreamItem) -> FeatureResult | None:
        batch = self.process_batch([item])
        if isinstance(item, LabelRow):
            return None
        if batch.late:
            return FeatureResult(item.seq, item.transaction_id, None, LATE_EVENT)
        return FeatureResult(item.seq, item.transaction_id, batch.matrix[0].copy())

    def _rows_remote(self, items: Sequence[StreamItem]) -> tuple[Values, list[int], list[int]]:
        """`_rows` over an overlay of the loaded states, saved at the end (module docstring)."""
        remote = self.store
        keys = batch_keys(self, items)
        before = Bookmark.take(self, items)
        self.deferring = True
        try:
            for attempt in range(MAX_ATTEMPTS):
                overlay = InProcessState()
                overlay.states.update(remote.load(keys))
                self.store = overlay
                try:
                    out = self._rows(items)
                finally:
                    self.store = remote
                try:
                    remote.save(overlay.states)
                except StateConflict:
                    before.restore(self)
                    if attempt == MAX_ATTEMPTS - 1:
                        raise
                    continue
                break
        finally:
            self.deferring = False
        if self.sweep_due:
            self.sweep()
        return out

    def stats(self) -> dict[str, int]:
        """Keys held per entity group, events held, and recent transactions kept for labels."""
        out: dict[str, int] = {}
        held = 0
        for (index, _), state in self.store.items():
            group = self.plan.groups[index]
            name = "x".join(group.entity) + (f"[{group.where.slug}]" if group.where else "")
            out[f"keys_{name}"] = out.get(f"keys_{name}", 0) + 1
            held += len(state.events)
        out["keys"] = len(self.store)
        out["events_held"] = held
        out["transactions_held"] = len(self.transactions)
        out["pending_labels"] = len(self.pending)
        return out

    # --- transactions ------------------------------------------------------------------------

    def _transaction(self, row: TxRow) -> Values | None:
        ts, seq = row.ts, row.seq
        if ts < self.max_time - self.lateness_us:
            return None
        ordered = (ts, seq) >= self.newest and ts >= self.max_label_ts
        self._remember(row)
        values = self.blank[:]
        if ordered and isinstance(self.store, InProcessState):
            self.dispatch(row, values, self.store.states, self.fraud_since, self.lateness_us)
        else:
            self._through_store(row, values, ordered)
            self._stateless(row, values)
        if ordered:
            self.newest = (ts, seq)
        self.max_time = max(self.max_time, ts)
        self.events += 1
        if self.events % SWEEP_EVERY == 0:
            self.sweep()
        return values

    def _stateless(self, row: TxRow, values: Values) -> None:
        """Mismatch and pass-through columns (the dispatch function inlines these)."""
        for column, a, b in self.plan.mismatches:
            left, right = getattr(row, a), getattr(row, b)
            values[column] = NAN if left is None or right is None else float(left != right)
        for column, attribute, default in self.plan.pass_through:
            values[column] = row.attributes.get(attribute, NAN if default is None else default)

    def _through_store(self, row: TxRow, values: Values, ordered: bool) -> None:
        """Any `StateStore`, one load and one save per event; late events take this path."""
        keys: dict[StateKey, CompiledGroup] = {}
        for compiled in self.groups:
            key = _key(row, compiled.group.key_fields)
            if key is not None:
                keys[(compiled.group.index, key)] = compiled
        states = self.store.load(keys)
        for state_key, compiled in keys.items():
            state = states.get(state_key)
            if state is None:
                state = states[state_key] = KeyState(compiled.new_acc(), row.ts)
            if ordered:
                compiled.step(state, row, values, self.fraud_since, self.lateness_us)
            else:
                self._out_of_order(compiled, state, row, values)
            state.newest = max(state.newest, row.ts)
        self.store.save(states)

    def _out_of_order(self, c: CompiledGroup, state: KeyState, row: TxRow, values: Values) -> None:
        group = c.group
        insert_late(c, state, row, self.fraud_since)
        history = ([state.before] if state.before is not None else []) + state.events
        h_us = self.plan.horizon_us
        for out in group.outputs:
            definition = out.definition
            if definition is None:
                continue
            if isinstance(definition, WindowFeature):
                value = window_value(definition, row, history, self.fraud_since, h_us)
            else:
                value = derived_value(definition, row, history, h_us)
            values[out.column] = value

    def _remember(self, row: TxRow) -> None:
        """Keep the transaction for labels arriving later; apply a label that came first."""
        if not self.label_groups:
            return
        tx_id = row.transaction_id
        if self.shared:  # transactions are remembered in the store (`shared`)
            known_at = self.pending.pop(tx_id, None)
            if known_at is not None and known_at >= row.ts - self.plan.horizon_us:
                self.recent.append((row.ts, tx_id))
                self.fraud_since[tx_id] = known_at
            return
        self.transactions[tx_id] = row
        self.recent.append((row.ts, tx_id))
        known_at = self.pending.pop(tx_id, None)
        if known_at is not None and known_at >= row.ts - self.plan.horizon_us:
            self.fraud_since[tx_id] = known_at

    # --- labels -------------------------------------------------------------------------------

    def _label(self, label: LabelRow) -> None:
        self.max_time = max(self.max_time, label.known_at)
        self.max_label_ts = max(self.max_label_ts, label.known_at)
        if not label.is_fraud or not self.label_groups:
            return
        tx_id, known_at = label.transaction_id, label.known_at
        row = self.transactions.get(tx_id)
        if row is None:
            self.pending[tx_id] = min(self.pending.get(tx_id, known_at), known_at)
            return
        if known_at < row.ts - self.plan.horizon_us:
            return
        first = self.fraud_since.get(tx_id)
        self.fraud_since[tx_id] = known_at if first is None else min(first, known_at)
        if first is not None:
            return
        keys: list[StateKey] = []
        for compiled in self.label_groups:
            key = _key(row, compiled.group.key_fields)
            if key is not None and compiled.matches(row):
                keys.append((compiled.group.index, key))
        for state in self.store.load(keys).values():
            insort(state.frauds, (row.ts, row.seq))

    # --- memory -------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Drop keys, transactions and pending labels older than the horizon (plus lateness)."""
        if self.deferring:
            self.sweep_due = True
            return
        self.sweep_due = False
        cutoff = self.max_time - self.plan.horizon_us - self.lateness_us
        self.store.expire(cutoff)
        recent, transactions, frauds = self.recent, self.transactions, self.fraud_since
        while recent and recent[0][0] < cutoff:
            _, tx_id = recent.popleft()
            transactions.pop(tx_id, None)
            frauds.pop(tx_id, None)
        for tx_id in [t for t, known_at in self.pending.items() if known_at < cutoff]:
            del self.pending[tx_id]

    # --- snapshots ----------------------------------------------------------------------------

    def snapshot(self, path: Path) -> None:
        """Write the whole state to `path` (pickle of plain objects, with format and version);
        on a shared store, its transaction records and the shared clock too."""
        records: list[TxRecord] | None = None
        if isinstance(self.store, RedisState):
            self._merge_clock(self.store.fetch().clock)
            records = self.store.transaction_records()
        data = {
            "format": SNAPSHOT_FORMAT,
            "version": self.feature_set.version,
            "lateness_us": self.lateness_us,
            "states": list(self.store.items()),
            "clock": (self.newest, self.max_time, self.max_label_ts, self.events),
            "labels": (self.transactions, list(self.recent), self.fraud_since, self.pending),
            "records": records,
        }
        path.write_bytes(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def restore(
        cls, path: Path, feature_set: FeatureSet, *, state: StateStore | None = None
    ) -> OnlineEngine:
        """An engine continuing exactly where the snapshot at `path` stopped (trusted files)."""
        data = pickle.loads(path.read_bytes())  # noqa: S301 - our own snapshot, not user input
        if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(
                f"{path} is not a feature-engine snapshot of format {SNAPSHOT_FORMAT}"
            )
        if data["version"] != feature_set.version:
            raise SnapshotError(
                f"{path} was made with feature set version {data['version']}, "
                f"not {feature_set.version}"
            )
        engine = cls(feature_set, allowed_lateness_s=data["lateness_us"] // 1_000_000, state=state)
        engine.lateness_us = data["lateness_us"]
        if isinstance(engine.store, RedisState):
            engine.store.fetch()  # a shared namespace may hold states already
        engine.store.save(dict(data["states"]))
        engine.newest, engine.max_time, engine.max_label_ts, engine.events = data["clock"]
        transactions, recent, fraud_since, pending = data["labels"]
        engine.transactions, engine.recent = transactions, deque(recent)
        engine.fraud_since, engine.pending = fraud_since, pending
        if isinstance(engine.store, RedisState):
            records = data.get("records")
            if records is None:  # an in-process snapshot: its label bookkeeping goes to Redis
                records = records_of(engine, transactions, fraud_since, pending)
            clock = (engine.newest, engine.max_time, engine.max_label_ts)
            engine.store.put_records(records, clock)
        return engine

    def _merge_clock(self, clock: Clock) -> None:
        """Move the lateness clock forward to a shared one (None: unknown)."""
        newest, max_time, max_label = clock
        if newest is not None:
            self.newest = max(self.newest, newest)
        if max_time is not None:
            self.max_time = max(self.max_time, max_time)
        if max_label is not None:
            self.max_label_ts = max(self.max_label_ts, max_label)
