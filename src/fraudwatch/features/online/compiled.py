"""Per-group update functions, generated once per plan as Python source and `exec`-compiled.

For each (entity, filter) group: `step(state, row, values, fraud_since, lateness_us)` advances
every window of the key to an in-order `row` (the window list unrolled), fills the group's
columns, adds the row when it passes the filter and compacts the key's events; `rebuild(state)`
recomputes the accumulators from the events after a late insertion; `new_acc()` makes fresh
accumulators. The generated code reads only the slots the group's features need.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from fraudwatch.features.enrich.geo import haversine_km_scalar, implied_speed_kmh_scalar
from fraudwatch.features.online.outputs import fraud_lines, output_lines, previous_distance
from fraudwatch.features.online.plan import Group, Plan
from fraudwatch.features.online.windows import (
    KeyState,
    Layout,
    Lines,
    add_lines,
    advance_lines,
    indent,
)
from fraudwatch.features.rows import ROW_FIELD, TxRow

# one transaction's feature vector: an `array('d')`, so no float object outlives its event
Values: TypeAlias = "array[float]"
Step = Callable[[KeyState, TxRow, Values, Mapping[str, int], int], None]
_DISTANCE = {"distance_from_previous", "speed_from_previous"}
_PREVIOUS = {"time_since_last", "last", "distance_from_previous", "speed_from_previous"}


@dataclass
class CompiledGroup:
    """A group with its generated functions (and their source, for debugging)."""

    group: Group
    step: Step
    rebuild: Callable[[KeyState], None]
    new_acc: Callable[[], list[Any]]
    matches: Callable[[TxRow], bool]
    source: str


def compile_group(group: Group, horizon_us: int) -> CompiledGroup:
    """Generate and compile the functions of one group."""
    layout = Layout(group)
    where = group.where
    match = "True"
    namespace: dict[str, Any] = {
        "NAN": math.nan,
        "_deque": deque,
        "_bisect": bisect_right,
        "_insort": insort,
        "_sqrt": math.sqrt,
        "_haversine": haversine_km_scalar,
        "_previous_distance": previous_distance,
        "_speed": implied_speed_kmh_scalar,
    }
    if where is not None:
        namespace["_WHERE"] = frozenset(where.values)
        test = "in" if where.op == "in" else "not in"
        value = f"row.{ROW_FIELD[where.field]}"
        match = f"{value} is not None and {value} {test} _WHERE"
    source = "\n".join(
        [
            f"def new_acc():\n    return [{', '.join(layout.init)}]",
            f"def matches(row):\n    return {match}",
            *_step(group, layout, match, horizon_us),
            *_rebuild(layout),
        ]
    )
    exec(compile(source, f"<fraudwatch group {group.index}>", "exec"), namespace)  # noqa: S102
    return CompiledGroup(
        group,
        namespace["step"],
        namespace["rebuild"],
        namespace["new_acc"],
        namespace["matches"],
        source,
    )


def insert_late(
    compiled: CompiledGroup, state: KeyState, row: TxRow, fraud_since: Mapping[str, int]
) -> None:
    """What the engine does to a key's state for an out-of-order event (before computing its
    features from the history): insert it at its place and rebuild the windows."""
    if not compiled.matches(row):
        return
    events = state.events
    at = len(events)
    while at > 0 and (events[at - 1].ts, events[at - 1].seq) > (row.ts, row.seq):
        at -= 1
    events.insert(at, row)
    if compiled.group.labels and row.transaction_id in fraud_since:
        insort(state.frauds, (row.ts, row.seq))
    compiled.rebuild(state)


def _step(group: Group, layout: Layout, match: str, horizon_us: int) -> Lines:
    body = [
        "ts = row.ts",
        "seq = row.seq",
        "events = state.events",
        "base = state.base",
        "acc = state.acc",
        "end = base + len(events)",
    ]
    if any(out.kind in _PREVIOUS for out in group.outputs):
        body += [
            "prev = events[-1] if events else None",
            "if prev is not None:",
            f"    lower = ts - {horizon_us}",
            "    t = prev.ts",
            "    if t < lower or (t == lower and prev.seq <= seq):",
            "        prev = None",
        ]
    if any(out.kind in _DISTANCE for out in group.outputs):
        body.append("distance = NAN if prev is None else _previous_distance(prev, row)")
    for w in layout.windows:
        body += advance_lines(w)
    for out in group.outputs:
        if out.kind == "first_seen":
            body += output_lines(layout, out)
    used: set[str] = set()

    def src(name: str) -> str:
        used.add(name)
        return f"r_{name}"

    added: Lines = []
    for w in layout.windows:
        if not w.spec.delay_us:
            added += add_lines(w, src, "idx")
    if group.labels:
        added += ["if row.transaction_id in fraud_since:", "    _insort(state.frauds, (ts, seq))"]
    preload = [f"r_{name} = row.{name}" for name in sorted(used)]
    appended = ["events.append(row)", "idx = end", "end += 1", *preload, *added]
    body += appended if match == "True" else [f"if {match}:", *indent(appended)]
    body += fraud_lines(layout, group.outputs)
    for out in group.outputs:
        if out.kind != "first_seen":
            body += output_lines(layout, out)
    body += ["if events:", *indent(_compact(group, layout))]
    return ["def step(state, row, values, fraud_since, lateness_us):", *indent(body)]


def _compact(group: Group, layout: Layout) -> Lines:
    """Forget events no window needs any more and older than the allowed lateness before the
    key's newest, keeping the last event (the previous event of the next one)."""
    lines = ["limit = end - 1"]
    for w in layout.windows:
        lines += [f"lo = acc[{w.lo}]", "if lo < limit:", "    limit = lo"]
    lines += [
        f"cutoff = events[-1].ts - {group.retention_us} - lateness_us",
        "kept = state.kept",
        "while kept < limit and events[kept - base].ts < cutoff:",
        "    kept += 1",
        "state.kept = kept",
        "dead = kept - base",
        "if dead and 2 * dead >= len(events):",
        "    state.before = events[dead - 1]",
        "    del events[:dead]",
        "    state.base = kept",
        "frauds = state.frauds",
        "while frauds and frauds[0][0] < cutoff:",
        "    frauds.pop(0)",
    ]
    return lines


def _rebuild(layout: Layout) -> Lines:
    body = ["events = state.events", "base = state.base", "acc = state.acc = new_acc()"]
    for w in layout.windows:
        body += [f"acc[{w.lo}] = base"] + ([f"acc[{w.hi}] = base"] if w.hi >= 0 else [])
    body += ["if not events:", "    return", "end = base + len(events)"]
    added: Lines = []
    for w in layout.windows:
        if not w.spec.delay_us:
            added += add_lines(w, lambda name: f"e.{name}", "idx")
    if added:
        body += ["for idx, e in enumerate(events, base):", *indent(added)]
    body += ["newest = events[-1]", "ts = newest.ts", "seq = newest.seq"]
    for w in layout.windows:
        body += advance_lines(w)
    return ["def rebuild(state):", *indent(body)]


Dispatch = Callable[[TxRow, Values, dict[Any, KeyState], Mapping[str, int], int], None]


def compile_dispatch(plan: Plan, groups: list[CompiledGroup]) -> Dispatch:
    """`run(row, values, states, fraud_since, lateness_us)`: an in-order row through every group
    (keys read, in-process states updated in place without moving them in the expiry order, no
    state for a key until an event of it passes the group's filter), then the stateless
    columns."""
    namespace: dict[str, Any] = {"NAN": math.nan, "_KeyState": KeyState}
    body = ["ts = row.ts", "get = states.get"]
    for c in groups:
        g = c.group
        i = g.index
        namespace.update({f"_step{i}": c.step, f"_new{i}": c.new_acc, f"_match{i}": c.matches})
        parts = [f"k{j} = row.{name}" for j, name in enumerate(g.key_fields)]
        test = " and ".join(f"k{j} is not None" for j in range(len(g.key_fields)))
        key = "k0" if len(parts) == 1 else "(" + ", ".join(f"k{j}" for j in range(len(parts))) + ")"
        call = f"_step{i}(st, row, values, fraud_since, lateness_us)"
        keep = ["states[sk] = st"]
        if g.where is not None:  # no state for a key until an event of it passes the filter
            keep = [f"if _match{i}(row):", "    states[sk] = st"]
        block = [f"sk = ({i}, {key})", "st = get(sk)", "if st is None:"]
        block += indent([f"st = _KeyState(_new{i}(), ts)", *keep])
        block += [call, "st.newest = ts"]  # in order: no key has seen a later time
        body += [*parts, f"if {test}:", *indent(block)]
    for column, a, b in plan.mismatches:
        body += [f"a = row.{a}", f"b = row.{b}"]
        body += [f"values[{column}] = NAN if a is None or b is None else float(a != b)"]
    if plan.pass_through:
        body.append("attributes = row.attributes")
    for index, (column, attribute, default) in enumerate(plan.pass_through):
        namespace[f"_attr{index}"] = attribute
        namespace[f"_default{index}"] = math.nan if default is None else default
        body.append(f"values[{column}] = attributes.get(_attr{index}, _default{index})")
    source = "\n".join(["def run(row, values, states, fraud_since, lateness_us):", *indent(body)])
    exec(compile(source, "<fraudwatch dispatch>", "exec"), namespace)  # noqa: S102
    run: Dispatch = namespace["run"]
    return run
