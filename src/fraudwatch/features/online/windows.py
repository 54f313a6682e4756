"""Exact sliding windows over one entity key's events, as Python source generated per group.

A `KeyState` holds the key's events (filtered for its group) in order-key order, in a list with
an absolute index `base` so cursors survive compaction, and one flat list `acc` of accumulators
laid out by the group's `Layout`: per window a cursor `lo` (first event inside) and, when delayed,
`hi` (first event not yet inside), the event count, exact integer sums (count, sum, sum of squares)
per numeric field, value counts per categorical field, monotone min/max queues of event indices,
an inline hour histogram and a position sum. The functions here return the source lines that add,
remove and advance one window (unrolled, no per-field dispatch); `compiled` assembles them.
Advancing evicts on the lexicographic bound `(ts - d - w, seq)` of `docs/features.md`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fraudwatch.features.online.plan import Group, WindowSpec
from fraudwatch.features.rows import TxRow

#: numeric row fields that are never null (their non-null count is the window's `n`)
ALWAYS = frozenset({"amount", "hour"})
Lines = list[str]


class KeyState:
    """One key's events (in order-key order) and flat accumulators; `before` is the newest
    event compacted away (still a previous event for a late arrival)."""

    __slots__ = ("acc", "base", "before", "events", "frauds", "kept", "newest", "placed")

    def __init__(self, acc: list[Any], newest: int) -> None:
        self.events: list[TxRow] = []
        self.base = 0
        self.kept = 0
        self.before: TxRow | None = None
        self.acc = acc
        self.frauds: list[tuple[int, int]] = []  # order keys of fraud-labelled events
        self.newest = newest  # latest event time seen for this key (for expiry)
        self.placed = newest  # `newest` when put at the back of the expiry order (<= newest)


@dataclass
class WindowSlots:
    """Where one window's accumulators live in `acc` (-1: not kept)."""

    spec: WindowSpec
    lo: int
    hi: int
    n: int
    sums: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # count, sum, squares
    counts: dict[str, int] = field(default_factory=dict)
    mins: dict[str, int] = field(default_factory=dict)
    maxs: dict[str, int] = field(default_factory=dict)
    hours: int = -1  # first of 24 slots
    home: int = -1  # positioned events, Σlat, Σlon


class Layout:
    """The slots of a group's `acc` list and their initial values (as source literals)."""

    def __init__(self, group: Group) -> None:
        self.init: list[str] = []
        squares = {(o.window, o.row_field or "amount") for o in group.outputs if o.kind == "std"}
        squares |= {(o.window, "amount") for o in group.outputs if o.kind == "zscore"}
        self.windows: list[WindowSlots] = []
        for k, spec in enumerate(group.windows):
            n_slot = self.slot()
            w = WindowSlots(spec, self.slot(), self.slot() if spec.delay_us else -1, n_slot)
            for name in sorted(spec.sums):
                count = n_slot if name in ALWAYS else self.slot()
                w.sums[name] = (count, self.slot(), self.slot() if (k, name) in squares else -1)
            w.counts = {name: self.slot("{}") for name in sorted(spec.counts)}
            w.mins = {name: self.slot("_deque()") for name in sorted(spec.mins)}
            w.maxs = {name: self.slot("_deque()") for name in sorted(spec.maxs)}
            if spec.hours:
                w.hours = self.slot()
                for _ in range(23):
                    self.slot()
            if spec.home:
                w.home = self.slot()
                self.slot()
                self.slot()
            self.windows.append(w)

    def slot(self, literal: str = "0") -> int:
        self.init.append(literal)
        return len(self.init) - 1


def indent(lines: Lines, by: int = 1) -> Lines:
    return ["    " * by + line for line in lines]


def _guard(source: str, name: str, body: Lines) -> Lines:
    if name in ALWAYS:
        return [f"v = {source}", *body]
    return [f"v = {source}", "if v is not None:", *indent(body)]


def add_lines(w: WindowSlots, src: Callable[[str], str], idx: str) -> Lines:
    """Account the event whose fields `src(name)` reads (at absolute index `idx`)."""
    out = [f"acc[{w.n}] += 1"]
    for name, (count, total, squares) in w.sums.items():
        body = [] if count == w.n else [f"acc[{count}] += 1"]
        body.append(f"acc[{total}] += v")
        if squares >= 0:
            body.append(f"acc[{squares}] += v * v")
        out += _guard(src(name), name, body)
    for name, slot in w.counts.items():
        out += _guard(src(name), name, [f"d = acc[{slot}]", "d[v] = d.get(v, 0) + 1"])
    if w.hours >= 0:
        out.append(f"acc[{w.hours} + {src('hour')}] += 1")
    if w.home >= 0:
        lat, lon = src("lat"), src("lon")
        out += [f"if {lat} is not None and {lon} is not None:"]
        out += indent([f"acc[{w.home}] += 1", f"acc[{w.home + 1}] += {lat}"])
        out += indent([f"acc[{w.home + 2}] += {lon}"])
    for queues, op in ((w.mins, ">="), (w.maxs, "<=")):
        for name, slot in queues.items():
            body = [f"q = acc[{slot}]", f"while q and events[q[-1] - base].{name} {op} v:"]
            out += _guard(src(name), name, [*body, "    q.pop()", f"q.append({idx})"])
    return out


def remove_lines(w: WindowSlots, counted: bool = True) -> Lines:
    """Take event `e` out of the window (min/max queues are trimmed by advancing); without
    `counted`, the caller takes the evicted events off the window's count."""
    out = [f"acc[{w.n}] -= 1"] if counted else []
    for name, (count, total, squares) in w.sums.items():
        body = [] if count == w.n else [f"acc[{count}] -= 1"]
        body.append(f"acc[{total}] -= v")
        if squares >= 0:
            body.append(f"acc[{squares}] -= v * v")
        out += _guard(f"e.{name}", name, body)
    for name, slot in w.counts.items():
        body = [f"d = acc[{slot}]", "left = d[v] - 1", "if left:", "    d[v] = left"]
        out += _guard(f"e.{name}", name, [*body, "else:", "    del d[v]"])
    if w.hours >= 0:
        out.append(f"acc[{w.hours} + e.hour] -= 1")
    if w.home >= 0:
        out += ["if e.lat is not None and e.lon is not None:"]
        out += indent([f"acc[{w.home}] -= 1", f"acc[{w.home + 1}] -= e.lat"])
        out += indent([f"acc[{w.home + 2}] -= e.lon"])
    return out


def _scan(cursor: str, slot: int, stop: str, bound: str, body: Lines) -> Lines:
    """Walk `cursor` up to `stop` over events with order key <= `(bound, seq)`, running `body`."""
    return [
        f"{cursor} = acc[{slot}]",
        f"while {cursor} < {stop}:",
        f"    e = events[{cursor} - base]",
        "    t = e.ts",
        f"    if t > {bound} or (t == {bound} and e.seq > seq):",
        "        break",
        *indent(body),
        f"    {cursor} += 1",
        f"acc[{slot}] = {cursor}",
    ]


def advance_lines(w: WindowSlots) -> Lines:
    """Move the window to end at `(ts - delay, seq)`: admit (delayed windows) and evict."""
    spec, out = w.spec, []
    stop = "end"
    if spec.delay_us:
        out.append(f"upper = ts - {spec.delay_us}")
        out += _scan("hi", w.hi, "end", "upper", add_lines(w, lambda name: f"e.{name}", "hi"))
        stop = "hi"
    out.append(f"lower = ts - {spec.delay_us + spec.width_us}")
    scan = _scan("lo", w.lo, stop, "lower", remove_lines(w, counted=False))
    moved = [f"acc[{w.lo}] = lo", f"acc[{w.n}] -= lo - start"]
    for slot in [*w.mins.values(), *w.maxs.values()]:
        moved += [f"q = acc[{slot}]", "while q and q[0] < lo:", "    q.popleft()"]
    return [*out, *scan[:1], "start = lo", *scan[1:-1], "if lo != start:", *indent(moved)]
