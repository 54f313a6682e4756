"""The oracle: a deliberately naive, literal implementation of `docs/features.md`.

For every transaction it scans the whole history again (O(n²)), so it is only for tests and
small previews; both real engines (online and offline) are checked against it. It reads like the
contract on purpose: when it and the doc disagree, the doc is fixed or this is.

Decisions where the doc is silent (kept in sync with the online engine):

- an entity pair (customer x merchant) is null when any part is null;
- a `where` filter never matches a null value (neither `in` nor `not_in`, as in SQL);
- windowless look-backs (`last`, `time_since_last`, `first_seen` without a window) use the
  horizon H as their window, with the same lexicographic bound;
- numeric fields: `amount`, `latitude`, `longitude` are scaled by 1e6, `hour_of_day` is not;
  `sum`/`mean`/`std`/`min`/`max`/`ratio_to_mean` aggregate the non-null values only (`n` is the
  number of them); `sum` of nothing is 0.0, `min`/`max` of nothing NaN;
- `count` ignores its field; `last` of a categorical field is 1.0 when the previous event's value
  equals the current one, 0.0 when it differs, NaN when either is null;
- `fraud_rate` is NaN when its (shifted, filtered) window is empty;
- a fraud label counts only when `ts_j - H <= known_at` (a label known more than H before its
  transaction is ignored: the online engine cannot hold labels for unseen transactions forever);
- a pass-through attribute that is absent takes the definition's `default`, else NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fraudwatch.features.definitions import (
    Aggregation,
    Derived,
    DerivedKind,
    FeatureSet,
    Filter,
    PassThrough,
    WindowFeature,
    window_seconds,
)
from fraudwatch.features.enrich.geo import haversine_km_scalar, implied_speed_kmh_scalar
from fraudwatch.features.rows import ENTITY_FIELD, ROW_FIELD, LabelRow, StreamItem, TxRow

NAN = math.nan
#: numeric row field -> divisor that turns its integer into the feature's unit
SCALE = {"amount": 1e6, "lat": 1e6, "lon": 1e6, "hour": 1.0}
Key = tuple[str, ...]


def entity_key(row: TxRow, entity: tuple[str, ...]) -> Key | None:
    """The row's key for an entity (or pair); None when any part is null."""
    parts = tuple(getattr(row, ENTITY_FIELD[name]) for name in entity)
    return None if any(part is None for part in parts) else parts


def matches(row: TxRow, where: Filter | None) -> bool:
    """Whether the row passes the filter (a null value never does)."""
    if where is None:
        return True
    value = getattr(row, ROW_FIELD[where.field])
    if value is None:
        return False
    return (value in where.values) == (where.op == "in")


def in_window(row: TxRow, now: TxRow, window_us: int, delay_us: int = 0) -> bool:
    """`(ts_i - d - w, seq_i) < (ts_j, seq_j) <= (ts_i - d, seq_i)`, lexicographic."""
    upper = (now.ts - delay_us, now.seq)
    return (upper[0] - window_us, now.seq) < (row.ts, row.seq) <= upper


def fraud_since(stream: Sequence[StreamItem], horizon_us: int) -> dict[str, int]:
    """transaction_id -> `known_at` of its first fraud label that counts (see the decisions)."""
    ts_of = {item.transaction_id: item.ts for item in stream if isinstance(item, TxRow)}
    out: dict[str, int] = {}
    for item in stream:
        if not (isinstance(item, LabelRow) and item.is_fraud and item.transaction_id in ts_of):
            continue
        if item.known_at >= ts_of[item.transaction_id] - horizon_us:
            first = out.get(item.transaction_id, item.known_at)
            out[item.transaction_id] = min(first, item.known_at)
    return out


def _std_parts(values: list[int]) -> tuple[int, int, int]:
    return len(values), sum(values), sum(v * v for v in values)


def _sigma(n: int, s: int, q: int) -> float:
    """Sample std in the field's integer unit; NaN when n < 2."""
    if n < 2:
        return NAN
    return math.sqrt(float(n * q - s * s) / float(n * (n - 1)))


def window_value(
    feature: WindowFeature, now: TxRow, history: list[TxRow], frauds: dict[str, int], h_us: int
) -> float:
    """The value of one window feature for `now`, given every transaction of the stream."""
    key = entity_key(now, feature.entity)
    if key is None:
        return NAN
    agg = feature.aggregation
    w_us = (feature.window_s or 0) * 1_000_000 if feature.window else h_us
    d_us = window_seconds_us(feature.label_delay)
    events = [
        j for j in history
        if entity_key(j, feature.entity) == key and matches(j, feature.where)
        and in_window(j, now, w_us, d_us)
    ]  # fmt: skip
    if agg is Aggregation.COUNT:
        return float(len(events))
    if agg in (Aggregation.FRAUD_COUNT, Aggregation.FRAUD_RATE):
        fraud = sum(1 for j in events if frauds.get(j.transaction_id, now.ts + 1) <= now.ts)
        if agg is Aggregation.FRAUD_COUNT:
            return float(fraud)
        return fraud / len(events) if events else NAN
    earlier = [j for j in events if (j.ts, j.seq) < (now.ts, now.seq)]
    if agg in (Aggregation.LAST, Aggregation.TIME_SINCE_LAST):
        if not earlier:
            return NAN
        prev = max(earlier, key=lambda j: (j.ts, j.seq))
        if agg is Aggregation.TIME_SINCE_LAST:
            return (now.ts - prev.ts) / 1e6
        return _last(feature, now, prev)
    assert feature.field is not None
    field = ROW_FIELD[feature.field]
    if agg is Aggregation.FIRST_SEEN:
        current = getattr(now, field)
        if current is None:
            return NAN
        return 0.0 if any(getattr(j, field) == current for j in earlier) else 1.0
    values = [getattr(j, field) for j in events if getattr(j, field) is not None]
    if agg is Aggregation.DISTINCT:
        return float(len(set(values)))
    scale = SCALE[field]
    n, s, q = _std_parts(values)
    if agg is Aggregation.SUM:
        return float(s) / scale
    if agg is Aggregation.MEAN:
        return float(s) / n / scale if n else NAN
    if agg is Aggregation.STD:
        return _sigma(n, s, q) / scale
    if agg is Aggregation.MIN:
        return float(min(values)) / scale if values else NAN
    if agg is Aggregation.MAX:
        return float(max(values)) / scale if values else NAN
    assert agg is Aggregation.RATIO_TO_MEAN
    current = getattr(now, field)
    if current is None or s == 0:
        return NAN
    return float(current * n) / float(s)


def _last(feature: WindowFeature, now: TxRow, prev: TxRow) -> float:
    assert feature.field is not None
    field = ROW_FIELD[feature.field]
    value = getattr(prev, field)
    if field in SCALE:
        return NAN if value is None else float(value) / SCALE[field]
    current = getattr(now, field)
    if value is None or current is None:
        return NAN
    return 1.0 if value == current else 0.0


def window_seconds_us(text: str | None) -> int:
    """A window or delay as microseconds, 0 for None."""
    if text is None:
        return 0
    return window_seconds(text) * 1_000_000


def derived_value(feature: Derived, now: TxRow, history: list[TxRow], h_us: int) -> float:
    """The value of one derived feature for `now`."""
    kind = feature.derived_kind
    if kind is DerivedKind.MISMATCH:
        a, b = (getattr(now, ROW_FIELD[name]) for name in feature.fields)
        return NAN if a is None or b is None else float(a != b)
    key = entity_key(now, feature.entity)
    if key is None:
        return NAN
    w_us = (feature.window_s or 0) * 1_000_000 if feature.window else h_us
    events = [j for j in history if entity_key(j, feature.entity) == key
              and in_window(j, now, w_us)]  # fmt: skip
    if kind is DerivedKind.ZSCORE:
        n, s, q = _std_parts([j.amount for j in events])
        sigma = _sigma(n, s, q)
        if n < 2 or sigma == 0:
            return NAN
        return (float(now.amount) - float(s) / n) / sigma
    if kind is DerivedKind.HOUR_DEVIATION:
        near = sum(1 for j in events if (j.hour - now.hour) % 24 in (0, 1, 23))
        return 1 - near / len(events)
    if kind is DerivedKind.DISTANCE_FROM_HOME:
        placed = [j for j in events if j.lat is not None and j.lon is not None]
        if now.lat is None or now.lon is None:
            return NAN
        m = len(placed)
        home_lat = float(sum(j.lat for j in placed)) / m / 1e6  # type: ignore[misc]
        home_lon = float(sum(j.lon for j in placed)) / m / 1e6  # type: ignore[misc]
        return haversine_km_scalar(now.lat / 1e6, now.lon / 1e6, home_lat, home_lon)
    earlier = [j for j in events if (j.ts, j.seq) < (now.ts, now.seq)]
    if not earlier:
        return NAN
    prev = max(earlier, key=lambda j: (j.ts, j.seq))
    distance = previous_distance(prev, now)
    if kind is DerivedKind.DISTANCE_FROM_PREVIOUS:
        return distance
    assert kind is DerivedKind.SPEED_FROM_PREVIOUS
    seconds = (now.ts - prev.ts) / 1e6
    return NAN if math.isnan(distance) else implied_speed_kmh_scalar(distance, seconds)


def previous_distance(prev: TxRow, now: TxRow) -> float:
    """Haversine km from the previous event's position to the current one's; NaN if unplaced."""
    if prev.lat is None or prev.lon is None or now.lat is None or now.lon is None:
        return NAN
    return haversine_km_scalar(prev.lat / 1e6, prev.lon / 1e6, now.lat / 1e6, now.lon / 1e6)


def reference_features(
    feature_set: FeatureSet, stream: Sequence[StreamItem]
) -> dict[int, dict[str, float]]:
    """transaction seq -> feature name -> value (NaN for null), by brute force over `stream`."""
    h_us = feature_set.longest_window_s * 1_000_000
    txs = [item for item in stream if isinstance(item, TxRow)]
    frauds = fraud_since(stream, h_us)
    out: dict[int, dict[str, float]] = {}
    for now in txs:
        values: dict[str, float] = {}
        for feature in feature_set:
            if isinstance(feature, PassThrough):
                default = NAN if feature.default is None else float(feature.default)
                values[feature.name] = now.attributes.get(feature.attribute, default)
            elif isinstance(feature, Derived):
                values[feature.name] = derived_value(feature, now, txs, h_us)
            else:
                values[feature.name] = window_value(feature, now, txs, frauds, h_us)
        out[now.seq] = values
    return out
