"""The native engine's whole state: a few large arrays, the label bookkeeping, snapshots.

- `ev`: one int64 row per retained event of a group's key (see `windows`), recycled through
  the `free` stack; grown by half.
- `ks[g]`: one int64 row per key id of group g (see `layout`); `keys[g]` maps keys to ids.
- `counts`: value counts of every (key, window, field) for `distinct` and `first_seen`, one
  hash table (`counts`).
- `labels`: recent transactions (id → slot of a ring holding its time, first fraud label time
  and its events), pending labels of unseen transactions, as `OnlineEngine` keeps them.

The event arrays and the label ring grow ahead of need (`Spares`): once one is three quarters
full, a thread allocates its larger copy and touches every page of it, and a later batch, on
the scoring thread, copies the rows over (memory already mapped) and swaps it in, one array
per batch. Grown only when a batch needed the room, allocated, filled and copied there, the
group arrays that fill together stalled a batch for 126-230 ms and the label ring for 150-200
ms, a few hundred thousand transactions into the benchmark scenario's traffic
(docs/features.md). The key rows are prepared the same way but swapped in only when a batch
needs more key ids: a sweep reads every key row.
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Callable, MutableMapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from numba import types
from numba.typed import List

from fraudwatch.features.online.engine import SnapshotError
from fraudwatch.features.online.native import counts, kernel
from fraudwatch.features.online.native.columns import Codes, KeyIds
from fraudwatch.features.online.native.layout import (
    G_EV_WIDTH,
    G_EVF_END,
    G_EVF_START,
    G_STRIDE,
    K_FIRST,
    K_HEADER,
    K_NEWEST,
    K_TAIL,
    Q_HEAD,
    Q_TAIL,
    W_GROUP,
    W_HI,
    W_LO,
    W_Q_END,
    W_Q_START,
    Layout,
    build_layout,
)
from fraudwatch.features.online.native.outputs import R_FRAUD, R_SLOTS, R_TS
from fraudwatch.features.online.native.windows import (
    E_VALS,
    INF,
    NIL,
    NULL,
    P_COUNTS,
    P_HORIZON,
    P_LATENESS,
    P_MAX_LABEL_TS,
    P_MAX_TIME,
    P_NEWEST_SEQ,
    P_NEWEST_TS,
    P_SIZE,
    P_SLOTS,
)
from fraudwatch.features.online.plan import Plan
from fraudwatch.features.rows import LabelRow, TxRow
from fraudwatch.runtime import ShardedDict

Ints = npt.NDArray[np.int64]
SNAPSHOT_FORMAT = 1
KERNEL_SWEEP = cast(Callable[..., Ints], kernel.sweep)
EARLIEST = -(2**62)
CODES_SLACK = 65_536  # category values beyond twice the live ones before a clean-up
FULL_AHEAD = 0.75  # an array this full has its larger copy prepared (`Spares`)
PAGE_INTS = 512  # int64 values in a memory page of 4 KiB


def _touched(shape: tuple[int, ...], fill: Ints | None) -> Ints:
    """A new array of zeros (or of rows `fill`) with every page of it written once, so that
    the kernel maps its memory now, not when the array is first copied into. numpy lets go of
    the interpreter lock while it writes."""
    array = np.zeros(shape, dtype=np.int64)  # calloc: no page mapped yet
    if fill is not None:
        array[:] = fill
    elif array.size:
        array.reshape(-1)[::PAGE_INTS] = 0
    return array


class Spares:
    """Arrays prepared by a thread for the state to grow into, by name: at most one under way
    or waiting per name. A state's growth on the scoring thread is then a copy into memory
    already mapped (8-16 ms per group array in the benchmark scenario), not an allocation, a
    fill and that copy with the pages mapped as they are first written (126-230 ms for the
    arrays that fill together: docs/features.md)."""

    def __init__(self) -> None:
        self._arrays: dict[str, Future[Ints]] = {}
        self._thread: ThreadPoolExecutor | None = None  # one, started at the first request

    def request(self, name: str, shape: tuple[int, ...], fill: Ints | None = None) -> None:
        """Start preparing `name` unless it is under way or ready (the requests in turn)."""
        if name in self._arrays:
            return
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="feature-state-spares")
        self._arrays[name] = self._thread.submit(_touched, shape, fill)

    def ready(self, name: str) -> bool:
        """Whether `name` is prepared (or failed) and waits to be taken."""
        future = self._arrays.get(name)
        return future is not None and future.done()

    def take(self, name: str, rows: int, *, wait: bool) -> Ints | None:
        """The array prepared as `name` if it has at least `rows` rows (else it is dropped);
        None if there is none, or it is not ready and not `wait`."""
        future = self._arrays.get(name)
        if future is None or not (wait or future.done()):
            return None
        del self._arrays[name]
        try:
            array = future.result()
        except Exception:  # (out of memory) the caller grows without it
            return None
        return array if len(array) >= rows else None

    def settle(self) -> None:
        """Wait until every array under way is ready (or failed)."""
        for future in list(self._arrays.values()):
            future.exception()


@dataclass
class LabelBook:
    """Recent transactions (for labels arriving later) in a ring the kernel reads, and the
    fraud labels of transactions not seen yet."""

    groups: int
    enabled: bool
    table: Ints = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    head: int = 0  # ring slot of the oldest remembered transaction
    next: int = 0  # ring slot of the next one
    # id -> ring slot; in parts: a rebuild of one dict of them stalled a batch 32-99 ms
    transactions: MutableMapping[str, int] = field(default_factory=ShardedDict)
    recent: deque[tuple[int, str]] = field(default_factory=deque)  # (ts, id), arrival order
    pending: dict[str, int] = field(default_factory=dict)  # id -> earliest fraud label time

    def __post_init__(self) -> None:
        if self.table.size == 0:
            self.table = np.zeros((1024, R_SLOTS + self.groups), dtype=np.int64)

    def resolve(
        self,
        is_label: npt.NDArray[np.bool_],
        labels: Sequence[LabelRow],
        txs: Sequence[TxRow],
        ts: Ints,
        ok: npt.NDArray[np.bool_],
        horizon_us: int,
    ) -> tuple[Ints, Ints, Ints]:
        """Ring slots of the batch's accepted transactions, and of each label's transaction
        (-1: unknown, so pending), in stream order like `OnlineEngine._remember` / `_label`."""
        rings = np.full(len(txs), -1, dtype=np.int64)
        n_labels = len(labels)
        l_ring = np.full(n_labels, -1, dtype=np.int64)
        l_fraud = np.zeros(n_labels, dtype=np.int64)
        if not self.enabled:
            return rings, l_ring, l_fraud
        accepted = np.flatnonzero(ok)
        self._reserve(len(accepted))
        first = self.next
        slots = np.arange(first, first + len(accepted))
        rings[accepted] = slots
        ids = [txs[t].transaction_id for t in accepted.tolist()]
        accepted_ts = ts[accepted]
        times = accepted_ts.tolist()
        transactions, pending = self.transactions, self.pending
        transactions.update(zip(ids, range(first, first + len(accepted)), strict=True))
        self.recent.extend(zip(times, ids, strict=True))
        if n_labels:  # a label sees the transactions before it in the stream
            position = np.flatnonzero(~is_label)[accepted]  # stream position by ring slot - first
            at_label = np.flatnonzero(is_label)
            for at, item in enumerate(labels):
                if not item.is_fraud:
                    continue
                l_fraud[at] = 1
                slot = transactions.get(item.transaction_id)
                if slot is not None and (slot < first or position[slot - first] < at_label[at]):
                    l_ring[at] = slot
                else:
                    tx_id, known_at = item.transaction_id, item.known_at
                    pending[tx_id] = min(pending.get(tx_id, known_at), known_at)
        frauds = np.full(len(accepted), INF, dtype=np.int64)
        if pending:
            for at, tx_id in enumerate(ids):
                known = pending.pop(tx_id, None)
                if known is not None and known >= times[at] - horizon_us:
                    frauds[at] = known
        places = slots & (len(self.table) - 1)
        self.table[places, R_TS] = accepted_ts
        self.table[places, R_FRAUD] = frauds
        self.table[places, R_SLOTS:] = -1
        self.next += len(accepted)
        return rings, l_ring, l_fraud

    def remember(self, row: TxRow, horizon_us: int) -> int:
        """`resolve` for one accepted transaction: its ring slot."""
        if not self.enabled:
            return -1
        self._reserve(1)
        slot = self.next
        self.next += 1
        self.transactions[row.transaction_id] = slot
        self.recent.append((row.ts, row.transaction_id))
        known = self.pending.pop(row.transaction_id, None)
        place = slot & (len(self.table) - 1)
        self.table[place, :] = -1
        self.table[place, R_TS] = row.ts
        counts = known is not None and known >= row.ts - horizon_us
        self.table[place, R_FRAUD] = INF if known is None or not counts else known
        return slot

    def label(self, label: LabelRow) -> int:
        """`resolve` for one label: its transaction's ring slot, -1 if none (pending)."""
        if not self.enabled or not label.is_fraud:
            return -1
        slot = self.transactions.get(label.transaction_id)
        if slot is None:
            tx_id, known_at = label.transaction_id, label.known_at
            self.pending[tx_id] = min(self.pending.get(tx_id, known_at), known_at)
            return -1
        return slot

    def _reserve(self, extra: int) -> None:
        size = len(self.table)
        if self.next - self.head + extra <= size:
            return
        self.move_to(np.zeros((self.size_for(extra), self.table.shape[1]), dtype=np.int64))

    def size_for(self, extra: int) -> int:
        """The ring's size with room for `extra` more transactions (a power of two)."""
        size = len(self.table)
        while size < self.next - self.head + extra:
            size *= 2
        return size

    def move_to(self, table: Ints) -> None:
        """Make `table` (zeros, a power of two at least as long) the ring, with the live
        transactions in their slots, copied a run at a time (at most three)."""
        old, new = len(self.table) - 1, len(table) - 1
        at = self.head
        while at < self.next:
            i, j = at & old, at & new
            n = min(self.next - at, old + 1 - i, new + 1 - j)
            table[j : j + n] = self.table[i : i + n]
            at += n
        self.table = table

    def expire(self, cutoff: int) -> None:
        recent, transactions = self.recent, self.transactions
        while recent and recent[0][0] < cutoff:
            _, tx_id = recent.popleft()
            transactions.pop(tx_id, None)
            self.head += 1
        for tx_id in [t for t, known_at in self.pending.items() if known_at < cutoff]:
            del self.pending[tx_id]


@dataclass
class NativeState:
    """Arrays and dicts of one native engine (see the module docstring)."""

    layout: Layout
    fields: list[str]
    tables: tuple[npt.NDArray[Any], ...]  # the layout's tables, as the kernel takes them
    templates: Ints
    gl: Ints
    evs: Any  # numba typed List: per group, its event rows
    frees: Any  # numba typed List: per group, its free stack (`free[0]` rows are free)
    ks: Any  # numba typed List of int64 matrices, one per group
    counts: Ints  # value-count hash table (`counts`)
    codes: Codes
    keys: list[KeyIds]
    labels: LabelBook
    key_arrays: list[Ints] = field(default_factory=list)  # the same arrays as `ks`
    ev_arrays: list[Ints] = field(default_factory=list)  # the same arrays as `evs`, `frees`
    free_arrays: list[Ints] = field(default_factory=list)
    spares: Spares = field(default_factory=Spares)  # larger arrays being prepared
    grown_ahead: int = 0  # arrays swapped for their prepared copies with room to spare
    grown_short: int = 0  # arrays grown because a batch needed the room (it waited for them)

    @classmethod
    def new(cls, plan: Plan, lateness_us: int) -> NativeState:
        layout = build_layout(plan)
        fields = list(layout.fields)
        for name in [n for _, a, b in plan.mismatches for n in (a, b)]:
            fields += [] if name in fields else [name]
        for name in [n for group in plan.groups for n in group.key_fields]:
            fields += [] if name in fields else [name]
        codes = Codes()
        filter_codes = np.array(codes.of(layout.filter_values), dtype=np.int64)
        tables = (
            layout.groups, layout.windows, layout.sums, layout.counts, layout.queues,
            layout.outputs, filter_codes, layout.numeric, layout.scale, layout.ev_fields,
        )  # fmt: skip
        templates = _templates(layout)
        groups = layout.groups
        gl = np.zeros(P_SIZE, dtype=np.int64)
        gl[[P_NEWEST_TS, P_NEWEST_SEQ]] = EARLIEST, -1
        gl[[P_MAX_TIME, P_MAX_LABEL_TS]] = EARLIEST
        gl[P_LATENESS], gl[P_HORIZON] = lateness_us, plan.horizon_us
        gl[P_SLOTS] = len(layout.counts)
        arrays = [np.tile(templates[g, : groups[g, G_STRIDE]], (64, 1)) for g in range(len(groups))]
        ks = List.empty_list(types.int64[:, ::1])  # typed even without groups
        for rows in arrays:
            ks.append(rows)
        state = cls(
            layout, fields, tables, templates, gl,
            List.empty_list(types.int64[:, ::1]), List.empty_list(types.int64[::1]), ks,
            np.zeros((1024, 3), dtype=np.int64),
            codes, [KeyIds(tuple(g.key_fields)) for g in plan.groups],
            LabelBook(layout.n_groups, any(g.labels for g in plan.groups)),
        )  # fmt: skip
        state.key_arrays = arrays
        width = layout.groups[:, G_EV_WIDTH]
        state._events(
            [np.zeros((0, w), dtype=np.int64) for w in width], [np.zeros(1, np.int64)] * len(width)
        )
        state.reserve(1024)
        return state

    def _events(self, evs: list[Ints], frees: list[Ints]) -> None:
        self.ev_arrays, self.free_arrays = list(evs), [free.copy() for free in frees]
        self.evs = List.empty_list(types.int64[:, ::1])
        self.frees = List.empty_list(types.int64[::1])
        for ev, free in zip(self.ev_arrays, self.free_arrays, strict=True):
            self.evs.append(ev)
            self.frees.append(free)

    @property
    def lateness_us(self) -> int:
        return int(self.gl[P_LATENESS])

    @property
    def events_held(self) -> int:
        pairs = zip(self.ev_arrays, self.free_arrays, strict=True)
        return sum(len(ev) - int(free[0]) for ev, free in pairs)

    def reserve(self, transactions: int) -> None:
        """Room for `transactions` more events in every group (and their value counts), rows
        for every key id and ring slots for as many transactions. An array short of room for
        them grows now (into its prepared copy if there is one); one three quarters full has
        its copy prepared, and the first one ready is swapped in (`Spares`)."""
        self.counts = counts.reserve(
            self.counts, int(self.gl[P_COUNTS]), transactions * len(self.layout.counts)
        )
        swapped = False
        for g in range(len(self.ev_arrays)):
            swapped = self._grow_events(g, transactions, swapped) or swapped
        for g in range(len(self.keys)):
            swapped = self._grow_keys(g, transactions) or swapped
        self._grow_ring(transactions, swapped)

    def _grow_events(self, g: int, transactions: int, swapped: bool) -> bool:
        """Group g's event rows and free stack (each transaction adds at most one event per
        group); True if they were swapped for their prepared copies."""
        rows, free = self.ev_arrays[g], self.free_arrays[g]
        top, size = int(free[0]), len(rows)
        if top >= transactions and top >= (1 - FULL_AHEAD) * size:
            return False
        grown = size + max(size // 2, transactions, 64)
        spares, name, stack_name = self.spares, f"ev{g}", f"free{g}"
        short = top < transactions
        if not short:
            spares.request(name, (grown, rows.shape[1]))
            spares.request(stack_name, (grown + 1,))
            if swapped or not (spares.ready(name) and spares.ready(stack_name)):
                return False
        needed = size + transactions - top
        ev = spares.take(name, needed, wait=short)
        stack = spares.take(stack_name, needed + 1, wait=short)
        if ev is None:
            ev = np.zeros((grown, rows.shape[1]), dtype=np.int64)
        if stack is None or len(stack) != len(ev) + 1:
            stack = np.zeros(len(ev) + 1, dtype=np.int64)
        grown = len(ev)
        ev[:size] = rows
        stack[1 : top + 1] = free[1 : top + 1]
        stack[top + 1 : top + 1 + grown - size] = np.arange(grown - 1, size - 1, -1)
        stack[0] = top + grown - size
        self.ev_arrays[g], self.free_arrays[g] = ev, stack
        self.evs[g], self.frees[g] = ev, stack
        self._count(short)
        return True

    def _count(self, short: bool) -> None:
        if short:
            self.grown_short += 1
        else:
            self.grown_ahead += 1

    def _grow_keys(self, g: int, transactions: int) -> bool:
        """Group g's key rows: one per key id (new rows are the group's template); each
        transaction adds at most one key id per group. True if they grew (in this batch, which
        needs them: a copy prepared ahead is not swapped in before)."""
        rows, used = self.key_arrays[g], self.keys[g].size
        size = len(rows)
        if used + transactions <= FULL_AHEAD * size:
            return False
        stride = self.layout.groups[g, G_STRIDE]
        grown = size + max(size // 2, used + transactions - size)
        name = f"keys{g}"
        if size >= used:  # prepared now, swapped in once needed: a sweep reads every key row
            self.spares.request(name, (grown, rows.shape[1]), self.templates[g, :stride])
            return False
        spare = self.spares.take(name, used, wait=True)
        if spare is None:
            spare = np.tile(self.templates[g, :stride], (grown, 1))
        spare[:size] = rows
        self.key_arrays[g] = self.ks[g] = spare
        self._count(short=True)
        return True

    def _grow_ring(self, transactions: int, swapped: bool) -> None:
        """The label ring: room for `transactions` more recent transactions."""
        book = self.labels
        if not book.enabled:
            return
        live, size = book.next - book.head, len(book.table)
        if live + transactions <= FULL_AHEAD * size:
            return
        short = live + transactions > size
        shape = (book.size_for(transactions) if short else 2 * size, book.table.shape[1])
        if not short:
            self.spares.request("ring", shape)
            if swapped:
                return
        spare = self.spares.take("ring", live + transactions, wait=short)
        if spare is None and not short:
            return
        book.move_to(np.zeros(shape, dtype=np.int64) if spare is None else spare)
        self._count(short)

    def sweep(self, horizon_us: int, part: int = 0, parts: int = 1) -> None:
        """Drop the keys silent for longer than the horizon (plus the lateness) among part
        `part` of `parts` of every group's key rows, then the expired transactions and pending
        labels, and the unused category codes when there are many."""
        cutoff = int(self.gl[P_MAX_TIME]) - horizon_us - self.lateness_us
        dropped = KERNEL_SWEEP(
            cutoff,
            self.gl,
            self.evs,
            self.frees,
            self.ks,
            self.counts,
            *self.tables,
            self.templates,
            part,
            parts,
        )
        for g, kid in dropped.tolist():
            self.keys[g].drop(kid)
        self.labels.expire(cutoff)
        if len(self.codes.codes) > 2 * self.codes.kept + CODES_SLACK:
            self._forget_codes()

    def _forget_codes(self) -> None:
        """Drop the category values no event, key or filter refers to (the code dict would
        otherwise keep every card, device and IP ever seen)."""
        live = {int(c) for c in self.tables[6]}  # filter values
        numeric = self.layout.numeric
        for g, rows in enumerate(self.ev_arrays):
            start, end = self.layout.groups[g, G_EVF_START], self.layout.groups[g, G_EVF_END]
            columns = [E_VALS + k - start for k in range(start, end)
                       if not numeric[self.layout.ev_fields[k]]]  # fmt: skip
            if columns and len(rows):
                live.update(np.unique(rows[:, columns]).tolist())
        for key_ids in self.keys:
            live |= key_ids.codes()
        live.discard(NULL)
        self.codes.keep(live)


def _templates(layout: Layout) -> Ints:
    """Per group, the row of a key without state: cursors and list ends NIL, newest earliest."""
    width = int(layout.groups[:, G_STRIDE].max(initial=K_HEADER))
    out = np.zeros((layout.n_groups, width), dtype=np.int64)
    out[:, [K_FIRST, K_TAIL]] = NIL
    out[:, K_NEWEST] = EARLIEST
    for w in layout.windows:
        g = w[W_GROUP]
        out[g, w[W_LO]] = NIL
        if w[W_HI] >= 0:
            out[g, w[W_HI]] = NIL
        for q in layout.queues[w[W_Q_START] : w[W_Q_END]]:
            out[g, [q[Q_HEAD], q[Q_TAIL]]] = NIL
    return out


def save_state(state: NativeState, path: Path, version: str) -> None:
    """Pickle the arrays and dicts (with format and feature-set version) to `path`."""
    data = {
        "format": SNAPSHOT_FORMAT,
        "version": version,
        "arrays": (state.gl, state.ev_arrays, state.free_arrays, state.key_arrays),
        "counts": state.counts,
        "python": (state.codes, state.keys, state.labels),
    }
    path.write_bytes(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))


def load_state(path: Path, plan: Plan, version: str) -> NativeState:
    """The state saved at `path`, checked against the feature set's version."""
    try:
        data = pickle.loads(path.read_bytes())  # noqa: S301 - our own snapshot, not user input
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise SnapshotError(f"{path} is not a native feature-engine snapshot: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"{path} is not a native feature-engine snapshot of format 1")
    if data["version"] != version:
        raise SnapshotError(
            f"{path} was made with feature set version {data['version']}, not {version}"
        )
    state = NativeState.new(plan, 0)
    state.gl, evs, frees, ks = data["arrays"]
    state._events(evs, frees)
    state.ks = List.empty_list(types.int64[:, ::1])
    for rows in ks:
        state.ks.append(rows)
    state.key_arrays = list(ks)
    state.counts = data["counts"]
    state.codes, state.keys, state.labels = data["python"]
    slots = state.labels.transactions
    if isinstance(slots, dict):  # a snapshot made before they were kept in parts
        state.labels.transactions = ShardedDict()
        state.labels.transactions.update(slots)
    return state
