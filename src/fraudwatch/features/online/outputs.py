"""The source lines computing one feature column from a key's accumulators.

The lines run inside a group's generated `step` (see `compiled`) with `state`, `row`, `ts`, `seq`,
`events`, `base`, `acc` and `prev` (the key's previous event within the horizon, or None) bound,
after the windows were advanced to `row` (and, except for `first_seen`, after `row` was added);
they assign `values[column]` with exactly the arithmetic of `docs/features.md`.
"""

from __future__ import annotations

import math

from fraudwatch.features.enrich.geo import haversine_km_scalar, implied_speed_kmh_scalar
from fraudwatch.features.online.plan import SCALE, Output
from fraudwatch.features.online.windows import Layout, Lines
from fraudwatch.features.rows import TxRow

NAN = math.nan


_DISTANCES: dict[tuple[int, int, int, int], float] = {}  # recent position pairs, bounded
_DISTANCES_MAX = 4096


def previous_distance(p: TxRow | None, r: TxRow) -> float:
    """Haversine km from the previous event's position to this one's; NaN if either lacks one.
    Identical positions are 0.0 (what the formula gives); other pairs go through a small memo
    (the same pair recurs across an event's groups and between regular places)."""
    if p is None:
        return NAN
    lat1, lon1, lat2, lon2 = p.lat, p.lon, r.lat, r.lon
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return NAN
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    pair = (lat1, lon1, lat2, lon2)
    distance = _DISTANCES.get(pair)
    if distance is None:
        if len(_DISTANCES) >= _DISTANCES_MAX:
            _DISTANCES.clear()
        distance = _DISTANCES[pair] = haversine_km_scalar(
            lat1 / 1e6, lon1 / 1e6, lat2 / 1e6, lon2 / 1e6
        )
    return distance


def previous_speed(p: TxRow | None, r: TxRow, distance: float) -> float:
    """Implied km/h from the previous event to this one (`previous_distance` apart)."""
    if p is None or math.isnan(distance):
        return NAN
    return implied_speed_kmh_scalar(distance, (r.ts - p.ts) / 1e6)


def _if_else(test: str, then: str, other: str, target: str) -> Lines:
    return [f"if {test}:", f"    {target} = {then}", "else:", f"    {target} = {other}"]


def fraud_lines(layout: Layout, outputs: list[Output]) -> Lines:
    """`c{window}`: the fraud-labelled events in each window some output counts them in."""
    lines: Lines = []
    for window in sorted({o.window for o in outputs if o.kind in ("fraud_count", "fraud_rate")}):
        spec = layout.windows[window].spec
        upper = f"ts - {spec.delay_us}" if spec.delay_us else "ts"
        lines += [
            "frauds = state.frauds",
            "if frauds:",
            f"    c{window} = _bisect(frauds, ({upper}, seq))",
            f"    c{window} -= _bisect(frauds, ({upper} - {spec.width_us}, seq))",
            "else:",
            f"    c{window} = 0",
        ]
    return lines


def output_lines(layout: Layout, out: Output) -> Lines:
    """Assign `values[out.column]`."""
    kind, name, target = out.kind, out.row_field or "amount", f"values[{out.column}]"
    scale = repr(SCALE.get(name, 1.0))
    w = layout.windows[out.window] if out.window >= 0 else None
    if w is None:
        if kind == "time_since_last":
            return _if_else("prev is None", "NAN", "(ts - prev.ts) / 1e6", target)
        if kind == "distance_from_previous":  # `distance` is computed once per step
            return [f"{target} = distance"]
        if kind == "speed_from_previous":  # `_previous_speed`, inline
            test = "prev is None or distance != distance"
            return _if_else(test, "NAN", "_speed(distance, (ts - prev.ts) / 1e6)", target)
        assert kind == "last"
        if name in SCALE:
            test = f"prev is None or prev.{name} is None"
            return _if_else(test, "NAN", f"float(prev.{name}) / {scale}", target)
        test = f"prev is None or prev.{name} is None or row.{name} is None"
        return _if_else(test, "NAN", f"1.0 if prev.{name} == row.{name} else 0.0", target)
    if kind == "count":
        return [f"{target} = float(acc[{w.n}])"]
    if kind in ("fraud_count", "fraud_rate"):  # `c{window}`: see `fraud_lines`
        c = f"c{out.window}"
        if kind == "fraud_count":
            return [f"{target} = float({c})"]
        return [f"n = acc[{w.n}]", *_if_else("n", f"{c} / n", "NAN", target)]
    if kind == "distinct":
        return [f"{target} = float(len(acc[{w.counts[name]}]))"]
    if kind == "first_seen":
        test = f"row.{name} is None"
        return _if_else(test, "NAN", f"0.0 if row.{name} in acc[{w.counts[name]}] else 1.0", target)
    if kind in ("min", "max"):
        slot = (w.mins if kind == "min" else w.maxs)[name]
        value = f"float(events[q[0] - base].{name}) / {scale}"
        return [f"q = acc[{slot}]", *_if_else("q", value, "NAN", target)]
    if kind == "hour_deviation":
        h = w.hours
        near = f"acc[{h} + h] + acc[{h} + (h + 1) % 24] + acc[{h} + (h - 1) % 24]"
        return ["h = row.hour", f"{target} = 1 - ({near}) / acc[{w.n}]"]
    if kind == "distance_from_home":
        m = w.home
        home = f"float(acc[{m + 1}]) / m / 1e6, float(acc[{m + 2}]) / m / 1e6"
        distance = f"_haversine(row.lat / 1e6, row.lon / 1e6, {home})"
        return [
            f"m = acc[{m}]",
            *_if_else("row.lat is None or row.lon is None", "NAN", distance, target),
        ]
    count, total, squares = w.sums[name]
    lines = [f"n = acc[{count}]", f"s = acc[{total}]"]
    if kind == "sum":
        return [f"{target} = float(acc[{total}]) / {scale}"]
    if kind == "mean":
        return lines + _if_else("n", f"float(s) / n / {scale}", "NAN", target)
    if kind == "ratio_to_mean":
        test = f"row.{name} is None or s == 0"
        return lines + _if_else(test, "NAN", f"float(row.{name} * n) / float(s)", target)
    sigma = f"_sqrt(float(n * acc[{squares}] - s * s) / float(n * (n - 1)))"
    if kind == "std":
        return lines + _if_else("n >= 2", f"{sigma} / {scale}", "NAN", target)
    assert kind == "zscore"
    return [
        *lines,
        f"{target} = NAN",
        "if n >= 2:",
        f"    sigma = {sigma}",
        "    if sigma != 0:",
        f"        {target} = (float(row.amount) - float(s) / n) / sigma",
    ]
