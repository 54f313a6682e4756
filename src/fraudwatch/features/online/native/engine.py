"""`NativeEngine`: `OnlineEngine`'s API and values with the per-event work compiled by numba.

Python turns each batch into columns (`columns`), resolves labels to their transactions (a
ring of recent transactions, as `OnlineEngine.transactions`), then one kernel call (`kernel`)
walks the batch in stream order and writes the feature matrix; mismatch and pass-through
columns are filled here. State lives in a few large arrays (`state.NativeState`), so a sweep or
a garbage collection never walks millions of objects. Values are bit-identical to
`OnlineEngine` with its in-process state: in order, late within `allowed_lateness_s`, rejected
beyond it, with labels.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from fraudwatch.errors import FraudwatchError
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.online.engine import LATE_EVENT, BatchResult, FeatureResult
from fraudwatch.features.online.native import kernel
from fraudwatch.features.online.native.columns import tx_columns
from fraudwatch.features.online.native.layout import K_ACTIVE, K_USED, NUMERIC
from fraudwatch.features.online.native.state import NativeState, load_state, save_state
from fraudwatch.features.online.native.windows import (
    NULL,
    P_EVENTS,
    P_MAX_TIME,
    P_RING_MASK,
)
from fraudwatch.features.online.plan import Plan, compile_plan
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow

NAN = math.nan
RUN_BATCH = cast(Callable[..., None], kernel.run_batch)
CHUNK = 4_096  # stream items per kernel call: bounds the columns and lets sweeps run
SWEEP_EVERY = 4_096  # transactions between sweeps of each key row (a sweep scans key rows)
SWEEP_PARTS = 8
"""The key rows are swept an eighth at a time, every `SWEEP_EVERY / SWEEP_PARTS` transactions:
a whole sweep paused scoring 14-15 ms every 4,096 transactions in the benchmark scenario (about
480,000 key rows; docs/features.md), an eighth of it under 5 (mostly under 2.5)."""
EXACT_LIMIT = 2**43  # |amount| (millionths) below which n*Q - S² is exact in 128 bits


class NativeRangeError(FraudwatchError):
    """A value is outside the range the native engine computes exactly."""

    code = "native_range"


@dataclass
class _One:
    """Preallocated kernel arguments for one stream item (`process`)."""

    kinds: npt.NDArray[np.int64]
    index: npt.NDArray[np.int64]
    ts: npt.NDArray[np.int64]
    seq: npt.NDArray[np.int64]
    ok: npt.NDArray[np.bool_]
    ring: npt.NDArray[np.int64]
    vals: npt.NDArray[np.int64]
    keys: npt.NDArray[np.int64]
    l_known: npt.NDArray[np.int64]
    l_fraud: npt.NDArray[np.int64]
    l_ring: npt.NDArray[np.int64]
    out: npt.NDArray[np.float64]

    @classmethod
    def new(cls, fields: int, groups: int, width: int) -> _One:
        def ints(*shape: int) -> npt.NDArray[np.int64]:
            return np.zeros(shape, dtype=np.int64)

        return cls(
            ints(1), ints(1), ints(1), ints(1), np.ones(1, dtype=np.bool_), ints(1),
            ints(1, fields), ints(1, groups), ints(1), ints(1), ints(1),
            np.full((1, width), NAN, dtype=np.float64),
        )  # fmt: skip


class NativeEngine:
    """Exact sliding-window features per event, compiled; the same results as `OnlineEngine`."""

    def __init__(self, feature_set: FeatureSet, *, allowed_lateness_s: int = 0) -> None:
        self.feature_set = feature_set
        self.plan: Plan = compile_plan(feature_set)
        self.width = len(self.plan.names)
        self.state = NativeState.new(self.plan, allowed_lateness_s * 1_000_000)
        self.since_sweep = 0
        self.swept_part = 0  # the part of the key rows the next sweep reads (`SWEEP_PARTS`)
        fields = self.state.fields
        self.mismatches = [
            (c, fields.index(a), fields.index(b)) for c, a, b in self.plan.mismatches
        ]
        # the same as three lists (output, left and right columns), for `_stateless`
        self.mismatch_columns = [list(column) for column in zip(*self.mismatches, strict=True)]
        self.getter = attrgetter(*fields)
        self.numeric = [name in NUMERIC for name in fields]
        self.key_columns = [[fields.index(n) for n in k.fields] for k in self.state.keys]
        self.one = _One.new(len(fields), len(self.state.keys), self.width)

    @property
    def lateness_us(self) -> int:
        return self.state.lateness_us

    # --- the public API ----------------------------------------------------------------------

    def process(self, item: StreamItem) -> FeatureResult | None:
        """Apply a label (returns None) or compute and account one transaction."""
        one = self.one
        state = self.state
        if type(item) is LabelRow:
            slot = state.labels.label(item)
            one.kinds[0], one.l_known[0] = kernel.LABEL, item.known_at
            one.l_fraud[0], one.l_ring[0] = int(item.is_fraud), slot
            self._run(one)
            return None
        assert isinstance(item, TxRow)
        if item.ts < int(state.gl[P_MAX_TIME]) - state.lateness_us:
            return FeatureResult(item.seq, item.transaction_id, None, LATE_EVENT)
        codes = state.codes
        values = [
            (NULL if v is None else v) if numeric else codes.one(v)
            for v, numeric in zip(self.getter(item), self.numeric, strict=True)
        ]
        if max(abs(v) for v in values[:4] if v != NULL) >= EXACT_LIMIT:
            self._check_range(np.array([values], dtype=np.int64))
        one.vals[0] = values
        one.keys[0] = [k.one(values, c) for k, c in zip(state.keys, self.key_columns, strict=True)]
        one.kinds[0], one.ts[0], one.seq[0] = kernel.TX, item.ts, item.seq
        state.reserve(1)
        one.ring[0] = state.labels.remember(item, self.plan.horizon_us)
        one.out.fill(NAN)
        self._run(one)
        values_out = one.out[0].copy()
        for column, a, b in self.mismatches:
            left, right = values[a], values[b]
            values_out[column] = NAN if NULL in (left, right) else float(left != right)
        for column, attribute, default in self.plan.pass_through:
            values_out[column] = item.attributes.get(attribute, NAN if default is None else default)
        self.since_sweep += 1
        if self.since_sweep >= SWEEP_EVERY // SWEEP_PARTS:
            self._sweep_part()
        return FeatureResult(item.seq, item.transaction_id, values_out)

    def _run(self, one: _One) -> None:
        state = self.state
        state.gl[P_RING_MASK] = len(state.labels.table) - 1
        RUN_BATCH(
            one.kinds, one.index, one.ts, one.seq, one.ok, one.ring, one.vals,
            one.keys, one.l_known, one.l_fraud, one.l_ring, one.out,
            state.gl, state.evs, state.frees, state.labels.table, state.ks, state.counts,
            *state.tables, state.templates,
        )  # fmt: skip

    def process_batch(self, items: Sequence[StreamItem]) -> BatchResult:
        """`process` over a batch: exactly the one-by-one results, as one float64 matrix."""
        parts: list[npt.NDArray[np.float64]] = []
        seqs: list[int] = []
        late: list[int] = []
        collecting = gc.isenabled()
        if collecting:  # the columns are many short-lived objects without cycles
            gc.disable()
        try:
            for start in range(0, len(items), CHUNK):
                matrix, chunk_seqs, chunk_late = self._chunk(items[start : start + CHUNK])
                late += [len(seqs) + at for at in chunk_late]
                seqs += chunk_seqs
                parts.append(matrix)
        finally:
            if collecting:
                gc.enable()
        if not parts:
            return BatchResult(np.empty((0, self.width), dtype=np.float64), [], [])
        matrix = parts[0] if len(parts) == 1 else np.vstack(parts)
        return BatchResult(matrix, seqs, late)

    def _chunk(
        self, items: Sequence[StreamItem]
    ) -> tuple[npt.NDArray[np.float64], list[int], list[int]]:
        state = self.state
        flags = [type(item) is LabelRow for item in items]
        if any(flags):
            txs: Sequence[TxRow] = [x for x, f in zip(items, flags, strict=True) if not f]  # type: ignore[misc]
            labels: list[LabelRow] = [x for x, f in zip(items, flags, strict=True) if f]  # type: ignore[misc]
            is_label = np.array(flags, dtype=np.bool_)
            kinds = is_label.astype(np.int64)  # kernel.LABEL is 1, kernel.TX 0
            index = np.where(is_label, np.cumsum(is_label) - 1, np.cumsum(~is_label) - 1)
        else:  # transactions only (the common case): each is its own index, of kind TX
            txs, labels = cast(Sequence[TxRow], items), []
            is_label = np.zeros(len(items), dtype=np.bool_)
            kinds = np.zeros(len(items), dtype=np.int64)
            index = np.arange(len(items), dtype=np.int64)
        ts, seq, vals, keys = tx_columns(
            txs, state.fields, state.codes, state.keys, self.key_columns
        )
        self._check_range(vals)
        known = np.fromiter((x.known_at for x in labels), dtype=np.int64, count=len(labels))
        ok = self._accepted(is_label, ts, known)
        state.reserve(len(txs))  # (the label ring too: before `resolve` takes its slots)
        rings, l_ring, l_fraud = state.labels.resolve(
            is_label, labels, txs, ts, ok, self.plan.horizon_us
        )
        state.gl[P_RING_MASK] = len(state.labels.table) - 1
        out = np.full((len(txs), self.width), NAN, dtype=np.float64)
        RUN_BATCH(
            kinds, index, ts, seq, ok, rings, vals, keys, known, l_fraud, l_ring, out,
            state.gl, state.evs, state.frees, state.labels.table, state.ks, state.counts,
            *state.tables, state.templates,
        )  # fmt: skip
        self._stateless(txs, vals, out)
        late = np.flatnonzero(~ok)
        if len(late):
            out[late] = NAN
        self.since_sweep += len(ok) - len(late)
        if self.since_sweep >= SWEEP_EVERY // SWEEP_PARTS:
            self._sweep_part()
        return out, seq.tolist(), late.tolist()

    def _accepted(
        self,
        is_label: npt.NDArray[np.bool_],
        ts: npt.NDArray[np.int64],
        known: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.bool_]:
        """Transactions not later than the allowed lateness behind the newest time before them
        (a rejected one is behind that time, so it never moves it)."""
        if len(known):
            times = np.empty(len(is_label), dtype=np.int64)
            times[is_label] = known
            times[~is_label] = ts
        else:  # transactions only
            times = ts
        newest = np.maximum.accumulate(np.concatenate(([self.state.gl[P_MAX_TIME]], times)))
        before: npt.NDArray[np.int64] = newest[:-1][~is_label] if len(known) else newest[:-1]
        accepted: npt.NDArray[np.bool_] = ts >= before - self.state.lateness_us
        return accepted

    def _check_range(self, vals: npt.NDArray[np.int64]) -> None:
        """Amounts and positions must stay below 2**43 in magnitude (NULL's abs is negative)."""
        if len(vals) and np.abs(vals[:, :4]).max() >= EXACT_LIMIT:
            raise NativeRangeError(
                "an amount or position is beyond ±2**43 millionths, the native engine's exact "
                "range; use OnlineEngine for such values"
            )

    def _stateless(
        self, txs: Sequence[TxRow], vals: npt.NDArray[np.int64], out: npt.NDArray[np.float64]
    ) -> None:
        """Mismatch and pass-through columns (the mismatches all at once: a few array
        operations per batch rather than per column)."""
        if self.mismatches:
            columns, a, b = self.mismatch_columns
            left, right = vals[:, a], vals[:, b]
            known = (left != NULL) & (right != NULL)
            out[:, columns] = np.where(known, (left != right).astype(np.float64), NAN)
        for column, attribute, default in self.plan.pass_through:
            fallback = NAN if default is None else default
            out[:, column] = [row.attributes.get(attribute, fallback) for row in txs]

    # --- state ---------------------------------------------------------------------------------

    def make_room(self, transactions: int) -> None:
        """Grow the state now for `transactions` more (after a warm-up: a growth copies every
        event array, 350 ms with two weeks of history held, a stall that would otherwise come
        under traffic, soon after start-up)."""
        self.state.reserve(transactions)

    def sweep(self) -> None:
        """Drop keys, transactions and pending labels older than the horizon (plus lateness)."""
        self.since_sweep = 0
        self.state.sweep(self.plan.horizon_us)

    def _sweep_part(self) -> None:
        """The next eighth of the key rows (`SWEEP_PARTS`), and the transactions and labels."""
        self.since_sweep = 0
        self.state.sweep(self.plan.horizon_us, self.swept_part, SWEEP_PARTS)
        self.swept_part = (self.swept_part + 1) % SWEEP_PARTS

    def stats(self) -> dict[str, int]:
        """Keys held per entity group, events held, and recent transactions kept for labels."""
        out: dict[str, int] = {}
        total = 0
        for group, rows in zip(self.plan.groups, self.state.key_arrays, strict=True):
            name = "x".join(group.entity) + (f"[{group.where.slug}]" if group.where else "")
            active = int(np.count_nonzero(rows[:, K_ACTIVE]))
            out[f"keys_{name}"] = out.get(f"keys_{name}", 0) + active
            total += active
        out["keys"] = total
        out["key_ids"] = sum(
            int(np.count_nonzero(rows[:, K_USED])) for rows in self.state.key_arrays
        )
        out["events_held"] = self.state.events_held
        out["transactions_held"] = len(self.state.labels.transactions)
        out["pending_labels"] = len(self.state.labels.pending)
        out["events"] = int(self.state.gl[P_EVENTS])
        out["arrays_grown_ahead"] = self.state.grown_ahead
        out["arrays_grown_in_a_batch"] = self.state.grown_short
        return out

    def snapshot(self, path: Path) -> None:
        """Write the whole state to `path` (with format and feature-set version)."""
        save_state(self.state, path, self.feature_set.version)

    @classmethod
    def restore(cls, path: Path, feature_set: FeatureSet) -> NativeEngine:
        """An engine continuing exactly where the snapshot at `path` stopped (trusted files)."""
        engine = cls(feature_set)
        engine.state = load_state(path, engine.plan, feature_set.version)
        return engine
