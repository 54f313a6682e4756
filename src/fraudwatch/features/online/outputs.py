"""One small function per feature column, reading a key's window accumulators.

Each function takes `(state, row, prev)` — the key's state after its windows were advanced to
`row`, the row, and the key's previous event within the horizon (or None) — and returns the
feature's float (NaN for null), with exactly the arithmetic of `docs/features.md`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable

from fraudwatch.features.enrich.geo import haversine_km_scalar, implied_speed_kmh_scalar
from fraudwatch.features.online.plan import SCALE, Group, Output
from fraudwatch.features.online.windows import KeyState
from fraudwatch.features.rows import TxRow

NAN = math.nan
OutputFn = Callable[[KeyState, TxRow, TxRow | None], float]


def _sigma(n: int, s: int, q: int) -> float:
    return math.sqrt(float(n * q - s * s) / float(n * (n - 1)))


def make_output(group: Group, out: Output) -> OutputFn:
    """The function computing column `out.column` from a state of `group`."""
    w, kind, name = out.window, out.kind, out.row_field or ""
    scale = SCALE.get(name, 1.0)
    spec = group.windows[w] if w >= 0 else None

    if kind == "count":
        return lambda s, r, p: float(s.wins[w].n)
    if kind == "sum":
        return lambda s, r, p: float(s.wins[w].sums[name][1]) / scale
    if kind == "mean":

        def mean(s: KeyState, r: TxRow, p: TxRow | None) -> float:
            n, total, _ = s.wins[w].sums[name]
            return float(total) / n / scale if n else NAN

        return mean
    if kind == "std":

        def std(s: KeyState, r: TxRow, p: TxRow | None) -> float:
            n, total, squares = s.wins[w].sums[name]
            return _sigma(n, total, squares) / scale if n >= 2 else NAN

        return std
    if kind in ("min", "max"):

        def extreme(s: KeyState, r: TxRow, p: TxRow | None) -> float:
            win = s.wins[w]
            queue = (win.mins if kind == "min" else win.maxs)[name]
            if not queue:
                return NAN
            return float(getattr(s.events[queue[0] - s.base], name)) / scale

        return extreme
    if kind == "distinct":
        return lambda s, r, p: float(len(s.wins[w].counts[name]))
    if kind == "first_seen":

        def first_seen(s: KeyState, r: TxRow, p: TxRow | None) -> float:
            value = getattr(r, name)
            if value is None:
                return NAN
            return 0.0 if value in s.wins[w].counts[name] else 1.0

        return first_seen
    if kind == "ratio_to_mean":

        def ratio(s: KeyState, r: TxRow, p: TxRow | None) -> float:
            value = getattr(r, name)
            n, total, _ = s.wins[w].sums[name]
            if value is None or total == 0:
                return NAN
            return float(value * n) / float(total)

        return ratio
    if kind in ("fraud_count", "fraud_rate"):
        assert spec is not None
        delay, width = spec.delay_us, spec.width_us

        def fraud(s: KeyState, r: TxRow, p: TxRow | None) -> float:
            upper = r.ts - delay
            frauds = s.frauds
            count = bisect_right(frauds, (upper, r.seq)) - bisect_right(
                frauds, (upper - width, r.seq)
            )
            if kind == "fraud_count":
                return float(count)
            n = s.wins[w].n
            return count / n if n else NAN

        return fraud
    if kind == "time_since_last":
        return lambda s, r, p: NAN if p is None else (r.ts - p.ts) / 1e6
    if kind == "last":
        return _last(name)
    return _derived(kind, w)


def _last(name: str) -> OutputFn:
    numeric = name in SCALE
    scale = SCALE.get(name, 1.0)

    def last(s: KeyState, r: TxRow, p: TxRow | None) -> float:
        if p is None:
            return NAN
        value = getattr(p, name)
        if numeric:
            return NAN if value is None else float(value) / scale
        current = getattr(r, name)
        if value is None or current is None:
            return NAN
        return 1.0 if value == current else 0.0

    return last


def previous_distance(p: TxRow | None, r: TxRow) -> float:
    """Haversine km from the previous event's position to this one's; NaN if either lacks one."""
    if p is None or p.lat is None or p.lon is None or r.lat is None or r.lon is None:
        return NAN
    return haversine_km_scalar(p.lat / 1e6, p.lon / 1e6, r.lat / 1e6, r.lon / 1e6)


def _derived(kind: str, w: int) -> OutputFn:
    if kind == "zscore":

        def zscore(s: KeyState, r: TxRow, p: TxRow | None) -> float:
            n, total, squares = s.wins[w].sums["amount"]
            if n < 2:
                return NAN
            sigma = _sigma(n, total, squares)
            if sigma == 0:
                return NAN
            return (float(r.amount) - float(total) / n) / sigma

        return zscore
    if kind == "hour_deviation":

        def hour_deviation(s: KeyState, r: TxRow, p: TxRow | None) -> float:
            win = s.wins[w]
            hours = win.hours
            assert hours is not None
            h = r.hour
            near = hours[h] + hours[(h + 1) % 24] + hours[(h - 1) % 24]
            return 1 - near / win.n

        return hour_deviation
    if kind == "distance_from_home":

        def home(s: KeyState, r: TxRow, p: TxRow | None) -> float:
            if r.lat is None or r.lon is None:
                return NAN
            acc = s.wins[w].home
            assert acc is not None
            m = acc[0]
            lat, lon = float(acc[1]) / m / 1e6, float(acc[2]) / m / 1e6
            return haversine_km_scalar(r.lat / 1e6, r.lon / 1e6, lat, lon)

        return home
    if kind == "distance_from_previous":
        return lambda s, r, p: previous_distance(p, r)
    assert kind == "speed_from_previous"

    def speed(s: KeyState, r: TxRow, p: TxRow | None) -> float:
        distance = previous_distance(p, r)
        if p is None or math.isnan(distance):
            return NAN
        return implied_speed_kmh_scalar(distance, (r.ts - p.ts) / 1e6)

    return speed
