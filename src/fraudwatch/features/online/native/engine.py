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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fraudwatch.errors import FraudwatchError
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.online.engine import LATE_EVENT, BatchResult, FeatureResult
from fraudwatch.features.online.native import kernel
from fraudwatch.features.online.native.columns import tx_columns
from fraudwatch.features.online.native.layout import ALWAYS, K_ACTIVE, K_USED
from fraudwatch.features.online.native.state import NativeState, load_state, save_state
from fraudwatch.features.online.native.windows import (
    INF,
    NULL,
    P_EVENTS,
    P_MAX_TIME,
    P_RING_MASK,
)
from fraudwatch.features.online.plan import Plan, compile_plan
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow

NAN = math.nan
CHUNK = 16_384  # stream items per kernel call: bounds the columns and lets sweeps run
SWEEP_EVERY = 4_096  # transactions between sweeps (a sweep scans every key row)
EXACT_LIMIT = 2**43  # |amount| (millionths) below which n·Q − S² is exact in 128 bits


class NativeRangeError(FraudwatchError):
    """A value is outside the range the native engine computes exactly."""

    code = "native_range"


class NativeEngine:
    """Exact sliding-window features per event, compiled; the same results as `OnlineEngine`."""

    def __init__(self, feature_set: FeatureSet, *, allowed_lateness_s: int = 0) -> None:
        self.feature_set = feature_set
        self.plan: Plan = compile_plan(feature_set)
        self.width = len(self.plan.names)
        self.state = NativeState.new(self.plan, allowed_lateness_s * 1_000_000)
        self.since_sweep = 0

    @property
    def lateness_us(self) -> int:
        return self.state.lateness_us

    # --- the public API ----------------------------------------------------------------------

    def process(self, item: StreamItem) -> FeatureResult | None:
        """Apply a label (returns None) or compute and account one transaction."""
        batch = self.process_batch([item])
        if isinstance(item, LabelRow):
            return None
        if batch.late:
            return FeatureResult(item.seq, item.transaction_id, None, LATE_EVENT)
        return FeatureResult(item.seq, item.transaction_id, batch.matrix[0])

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
        txs: list[TxRow] = []
        labels: list[LabelRow] = []
        kinds = np.empty(len(items), dtype=np.int64)
        for at, item in enumerate(items):
            if type(item) is LabelRow:
                labels.append(item)
                kinds[at] = kernel.LABEL
            else:
                assert isinstance(item, TxRow)
                txs.append(item)
                kinds[at] = kernel.TX
        is_label = kinds == kernel.LABEL
        index = np.where(is_label, np.cumsum(is_label) - 1, np.cumsum(~is_label) - 1)
        ts, seq, vals, keys = tx_columns(txs, state.fields, state.codes, state.keys)
        self._check_range(vals)
        known = np.fromiter((x.known_at for x in labels), dtype=np.int64, count=len(labels))
        ok = self._accepted(is_label, ts, known)
        rings, l_ring, l_fraud = state.labels.resolve(items, txs, ts, ok, self.plan.horizon_us)
        state.gl[P_RING_MASK] = len(state.labels.table) - 1
        state.reserve(len(txs), keys)
        out = np.full((len(txs), self.width), NAN, dtype=np.float64)
        kernel.run_batch(
            kinds, index, ts, seq, ok, rings, vals, keys, known, l_fraud, l_ring, out,
            state.gl, state.ev, state.free, state.labels.table, state.ks, state.counts,
            *state.tables, state.templates,
        )  # fmt: skip
        self._stateless(txs, vals, out)
        late = np.flatnonzero(~ok)
        out[late] = NAN
        self.since_sweep += int(ok.sum())
        if self.since_sweep >= SWEEP_EVERY:
            self.sweep()
        return out, seq.tolist(), late.tolist()

    def _accepted(
        self, is_label: npt.NDArray[np.bool_], ts: npt.NDArray[np.int64], known: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """Transactions not later than the allowed lateness behind the newest time before them
        (a rejected one is behind that time, so it never moves it)."""
        times = np.empty(len(is_label), dtype=np.int64)
        times[is_label] = known
        times[~is_label] = ts
        newest = np.maximum.accumulate(np.concatenate(([self.state.gl[P_MAX_TIME]], times)))
        before: npt.NDArray[np.int64] = newest[:-1][~is_label]
        accepted: npt.NDArray[np.bool_] = ts >= before - self.state.lateness_us
        return accepted

    def _check_range(self, vals: npt.NDArray[np.int64]) -> None:
        for at, name in enumerate(self.state.fields[:4]):
            if name in ALWAYS or name in ("lat", "lon"):
                column = vals[:, at]
                bad = (column != NULL) & (np.abs(column) >= EXACT_LIMIT)
                if bad.any():
                    raise NativeRangeError(
                        f"{name} {int(column[bad][0])} is beyond ±2**43, the native engine's "
                        "exact range; use OnlineEngine for such values"
                    )

    def _stateless(
        self, txs: Sequence[TxRow], vals: npt.NDArray[np.int64], out: npt.NDArray[np.float64]
    ) -> None:
        """Mismatch and pass-through columns."""
        fields = self.state.fields
        for column, a, b in self.plan.mismatches:
            left, right = vals[:, fields.index(a)], vals[:, fields.index(b)]
            known = (left != NULL) & (right != NULL)
            out[:, column] = np.where(known, (left != right).astype(np.float64), NAN)
        for column, attribute, default in self.plan.pass_through:
            fallback = NAN if default is None else default
            out[:, column] = [row.attributes.get(attribute, fallback) for row in txs]

    # --- state ---------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Drop keys, transactions and pending labels older than the horizon (plus lateness)."""
        self.since_sweep = 0
        self.state.sweep(self.plan.horizon_us)

    def stats(self) -> dict[str, int]:
        """Keys held per entity group, events held, and recent transactions kept for labels."""
        out: dict[str, int] = {}
        total = 0
        for group, rows in zip(self.plan.groups, self.state.ks, strict=True):
            name = "x".join(group.entity) + (f"[{group.where.slug}]" if group.where else "")
            active = int(np.count_nonzero(rows[:, K_ACTIVE]))
            out[f"keys_{name}"] = out.get(f"keys_{name}", 0) + active
            total += active
        out["keys"] = total
        out["key_ids"] = sum(int(np.count_nonzero(rows[:, K_USED])) for rows in self.state.ks)
        out["events_held"] = self.state.events_held
        out["transactions_held"] = len(self.state.labels.transactions)
        out["pending_labels"] = len(self.state.labels.pending)
        out["events"] = int(self.state.gl[P_EVENTS])
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


__all__ = ["INF", "NativeEngine", "NativeRangeError"]
