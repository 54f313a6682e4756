"""Exact sliding windows over one entity key's events, updated incrementally.

A `KeyState` holds the key's events (filtered for its group) in order-key order, in a list with
an absolute index `base` so cursors survive compaction. Each window keeps a cursor `lo` (first
event inside) and, when delayed, `hi` (first event not yet inside), plus running exact integer
sums, value counts, monotone min/max queues, an hour histogram and a position sum. Advancing a
window to a new event evicts on the lexicographic bound `(ts - d - w, seq)` of `docs/features.md`.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from fraudwatch.features.online.plan import Group, WindowSpec
from fraudwatch.features.rows import TxRow


class WindowState:
    """Accumulators of one window of one key: what is needed by the group's features only."""

    __slots__ = ("counts", "hi", "home", "hours", "lo", "maxs", "mins", "n", "sums")

    def __init__(self, spec: WindowSpec, start: int) -> None:
        self.lo = start
        self.hi = start
        self.n = 0
        self.sums: dict[str, list[int]] = {name: [0, 0, 0] for name in spec.sums}
        self.counts: dict[str, dict[Any, int]] = {name: {} for name in spec.counts}
        self.mins: dict[str, deque[int]] = {name: deque() for name in spec.mins}
        self.maxs: dict[str, deque[int]] = {name: deque() for name in spec.maxs}
        self.hours: list[int] | None = [0] * 24 if spec.hours else None
        self.home: list[int] | None = [0, 0, 0] if spec.home else None


class KeyState:
    """One key's events (in order-key order) and window accumulators; `before` is the newest
    event compacted away (still a previous event for a late arrival)."""

    __slots__ = ("base", "before", "events", "frauds", "kept", "newest", "wins")

    def __init__(self, group: Group, newest: int) -> None:
        self.events: list[TxRow] = []
        self.base = 0
        self.kept = 0
        self.before: TxRow | None = None
        self.wins = [WindowState(spec, 0) for spec in group.windows]
        self.frauds: list[tuple[int, int]] = []  # order keys of fraud-labelled events
        self.newest = newest  # latest event time seen for this key (for expiry)


def add(win: WindowState, spec: WindowSpec, state: KeyState, row: TxRow, index: int) -> None:
    """Account `row` (at absolute `index`) into the window."""
    win.n += 1
    for name, acc in win.sums.items():
        value = getattr(row, name)
        if value is not None:
            acc[0] += 1
            acc[1] += value
            acc[2] += value * value
    for name, counter in win.counts.items():
        value = getattr(row, name)
        if value is not None:
            counter[value] = counter.get(value, 0) + 1
    if win.hours is not None:
        win.hours[row.hour] += 1
    if win.home is not None and row.lat is not None and row.lon is not None:
        home = win.home
        home[0] += 1
        home[1] += row.lat
        home[2] += row.lon
    if win.mins or win.maxs:
        _push_extremes(win, state, row, index)


def _push_extremes(win: WindowState, state: KeyState, row: TxRow, index: int) -> None:
    events, base = state.events, state.base
    for name, queue in win.mins.items():
        value = getattr(row, name)
        if value is not None:
            while queue and getattr(events[queue[-1] - base], name) >= value:
                queue.pop()
            queue.append(index)
    for name, queue in win.maxs.items():
        value = getattr(row, name)
        if value is not None:
            while queue and getattr(events[queue[-1] - base], name) <= value:
                queue.pop()
            queue.append(index)


def remove(win: WindowState, row: TxRow) -> None:
    """Take `row` out of the window (min/max queues are trimmed by `advance`)."""
    win.n -= 1
    for name, acc in win.sums.items():
        value = getattr(row, name)
        if value is not None:
            acc[0] -= 1
            acc[1] -= value
            acc[2] -= value * value
    for name, counter in win.counts.items():
        value = getattr(row, name)
        if value is not None:
            left = counter[value] - 1
            if left:
                counter[value] = left
            else:
                del counter[value]
    if win.hours is not None:
        win.hours[row.hour] -= 1
    if win.home is not None and row.lat is not None and row.lon is not None:
        home = win.home
        home[0] -= 1
        home[1] -= row.lat
        home[2] -= row.lon


def advance(win: WindowState, spec: WindowSpec, state: KeyState, ts: int, seq: int) -> None:
    """Move the window to end at `(ts - delay, seq)`: admit (delayed windows) and evict."""
    events, base = state.events, state.base
    end = base + len(events)
    if spec.delay_us:
        upper = ts - spec.delay_us
        hi = win.hi
        while hi < end:
            row = events[hi - base]
            if row.ts > upper or (row.ts == upper and row.seq > seq):
                break
            add(win, spec, state, row, hi)
            hi += 1
        win.hi = hi
    else:
        win.hi = end
    lower = ts - spec.delay_us - spec.width_us
    lo = win.lo
    while lo < win.hi:
        row = events[lo - base]
        if row.ts > lower or (row.ts == lower and row.seq > seq):
            break
        remove(win, row)
        lo += 1
    win.lo = lo
    for queue in win.mins.values():
        while queue and queue[0] < lo:
            queue.popleft()
    for queue in win.maxs.values():
        while queue and queue[0] < lo:
            queue.popleft()


def append(group: Group, state: KeyState, row: TxRow) -> None:
    """Append an in-order event and account it in every undelayed window."""
    index = state.base + len(state.events)
    state.events.append(row)
    for win, spec in zip(state.wins, group.windows, strict=True):
        if not spec.delay_us:
            add(win, spec, state, row, index)
            win.hi = index + 1


def compact(group: Group, state: KeyState, keep_us: int) -> None:
    """Forget events no window needs any more and older than `keep_us` before the key's newest
    (the allowed lateness), keeping the last event (the previous event of the next one)."""
    events = state.events
    if not events:
        return
    limit = state.base + len(events) - 1
    for win in state.wins:
        limit = min(limit, win.lo)
    cutoff = events[-1].ts - group.retention_us - keep_us
    kept = state.kept
    while kept < limit and events[kept - state.base].ts < cutoff:
        kept += 1
    state.kept = kept
    dead = kept - state.base
    if dead and 2 * dead >= len(events):
        state.before = events[dead - 1]
        del events[:dead]
        state.base = kept
    frauds = state.frauds
    while frauds and frauds[0][0] < cutoff:
        frauds.pop(0)


def rebuild(group: Group, state: KeyState) -> None:
    """Recompute every window from the events, ending at the newest one (after an insertion)."""
    events = state.events
    state.wins = [WindowState(spec, state.base) for spec in group.windows]
    if not events:
        return
    newest = events[-1]
    for win, spec in zip(state.wins, group.windows, strict=True):
        if not spec.delay_us:
            for offset, row in enumerate(events):
                add(win, spec, state, row, state.base + offset)
        advance(win, spec, state, newest.ts, newest.seq)
