"""Look-backs to the key's previous event: last, time_since_last, first_seen, previous position.

"Previous" is the key's event with the largest order key below the current one, and only within
the horizon H (`(ts_i - H, seq_i) < (ts_j, seq_j)`), as the online engine drops older state.
Unfiltered look-backs are `LAG`s over the key's partition; a filtered one takes the latest matching
event of the frame as `MAX(struct_pack(ok, ...))` (DuckDB; PostgreSQL would need a lateral join).
"""

from __future__ import annotations

from fraudwatch.features.definitions import Aggregation, Derived, DerivedKind, WindowFeature
from fraudwatch.features.offline.plan import Plan
from fraudwatch.features.offline.sql import (
    MICROS,
    ORDER_SHIFT,
    SCALE,
    as_double,
    big,
    degrees,
    entity_columns,
    filter_sql,
    frame,
    haversine_km,
    row_field,
    speed_kmh,
)


class Previous:
    """Columns of the key's previous (optionally matching) event within the horizon."""

    def __init__(self, plan: Plan, entity: tuple[str, ...], predicate: str | None) -> None:
        self.plan = plan
        self.partition = entity_columns(entity)
        self.predicate = predicate
        self.within = plan.horizon_us > 0

    def column(self, column: str) -> str:
        """`column` of the previous event; NULL when there is none within H."""
        if not self.within:
            return "NULL"
        if self.predicate is None:
            lagged = self.plan.window(self.partition, f"LAG({column})", "", f"prev_{column}")
            prev_ok = self.plan.window(self.partition, "LAG(ok)", "", "prev_ok")
            bound = f"base.ok - {big(self.plan.horizon_us * ORDER_SHIFT)}"
            return f"CASE WHEN {prev_ok} > {bound} THEN {lagged} END"
        latest = self.plan.window(
            self.partition,
            f"MAX(struct_pack(ok := ok, v := {column})) FILTER (WHERE {self.predicate})",
            frame(self.plan.horizon_us, strict=True),
            f"prev_{column}_where",
        )
        return f"struct_extract({latest}, 'v')"


def lookback_sql(plan: Plan, feature: WindowFeature) -> str:
    """`last` and `time_since_last`."""
    previous = Previous(plan, feature.entity, filter_sql(feature.where))
    if feature.aggregation is Aggregation.TIME_SINCE_LAST:
        return f"{as_double('base.ts - ' + previous.column('ts'))} / 1e6"
    assert feature.aggregation is Aggregation.LAST and feature.field is not None
    column = row_field(feature.field)
    value = previous.column(column)
    if column in SCALE:
        return f"{as_double(value)} / {SCALE[column]}"
    current = f"base.{column}"
    return (
        f"CASE WHEN {value} IS NULL OR {current} IS NULL THEN NULL"
        f" WHEN {value} = {current} THEN 1e0 ELSE 0e0 END"
    )


def first_seen_sql(plan: Plan, feature: WindowFeature) -> str:
    """1.0 when no earlier (matching) window event of the key has the current value."""
    assert feature.field is not None
    column = row_field(feature.field)
    window_us = feature.window_s * MICROS if feature.window_s else plan.horizon_us
    current = f"base.{column}"
    if window_us == 0:
        return f"CASE WHEN {current} IS NOT NULL THEN 1e0 END"
    predicate = filter_sql(feature.where)
    counted = "COUNT(*)" if predicate is None else f"COUNT(*) FILTER (WHERE {predicate})"
    partition = tuple(dict.fromkeys((*entity_columns(feature.entity), column)))
    tag = f"seen_{column}_{feature.window or 'h'}" + (
        f"_where_{feature.where.slug}" if feature.where else ""
    )
    seen = plan.window(partition, counted, frame(window_us, strict=True), tag)
    return f"CASE WHEN {current} IS NULL THEN NULL WHEN {seen} = 0 THEN 1e0 ELSE 0e0 END"


def previous_position_sql(plan: Plan, feature: Derived) -> str:
    """Haversine km from the key's previous event (distance) or the km/h it implies (speed)."""
    previous = Previous(plan, feature.entity, None)
    distance = haversine_km(
        degrees(previous.column("lat")),
        degrees(previous.column("lon")),
        degrees("base.lat"),
        degrees("base.lon"),
    )
    if feature.derived_kind is DerivedKind.DISTANCE_FROM_PREVIOUS:
        return distance
    assert feature.derived_kind is DerivedKind.SPEED_FROM_PREVIOUS
    seconds = f"{as_double('base.ts - ' + previous.column('ts'))} / 1e6"
    return speed_kmh(distance, seconds)
