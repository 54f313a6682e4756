"""Derived features beyond one aggregation: hour deviation, distance from home, mismatches, and
pass-through attributes.

The hour deviation counts window events whose hour is within ±1 of the current hour (circularly).
A frame cannot compare its rows to the current row's value, so each transaction is repeated
into the three hour buckets it is near (`hour_buckets_*`); counting a key's rows of the current
hour's bucket over the window then counts exactly the near events.
"""

from __future__ import annotations

from fraudwatch.features.definitions import Derived, PassThrough
from fraudwatch.features.offline.plan import Plan
from fraudwatch.features.offline.sql import (
    MICROS,
    as_double,
    degrees,
    double,
    entity_columns,
    filtered,
    frame,
    haversine_km,
    ident,
    row_field,
)
from fraudwatch.features.offline.windows import count_in_window

_PLACED = "lat IS NOT NULL AND lon IS NOT NULL"


def hour_deviation_sql(plan: Plan, feature: Derived) -> str:
    """`1 - near / n` over the key's window."""
    assert feature.window_s is not None
    (column,) = entity_columns(feature.entity)
    window = frame(feature.window_s * MICROS)
    buckets = plan.add_cte(
        f"hour_buckets_{column}",
        f"SELECT base.seq, base.ok, base.{column}, (base.hour + near.delta + 24) % 24 AS bucket,"
        " near.delta = 0 AS own\n"
        "  FROM base CROSS JOIN (VALUES (-1), (0), (1)) AS near(delta)",
    )
    near = plan.add_cte(
        f"hour_near_{column}_{feature.window}",
        f"SELECT seq, near FROM (\n"
        f"    SELECT seq, own, COUNT(*) OVER (PARTITION BY {column}, bucket ORDER BY ok {window})"
        f" AS near\n    FROM {buckets}\n  ) AS counted WHERE own",
        joined=True,
    )
    n = count_in_window(plan, entity_columns(feature.entity), window, f"n_{feature.window}")
    return f"1e0 - {as_double(f'{near}.near')} / {n}"


def distance_from_home_sql(plan: Plan, feature: Derived) -> str:
    """Haversine km from the current position to the mean position of the key's window."""
    assert feature.window_s is not None
    partition = entity_columns(feature.entity)
    window = frame(feature.window_s * MICROS)
    tag = f"placed_{feature.window}"
    m = plan.window(partition, filtered("COUNT(*)", _PLACED), window, f"n_{tag}")
    sums = [
        plan.window(partition, filtered(f"SUM({c})", _PLACED), window, f"sum_{c}_{tag}")
        for c in ("lat", "lon")
    ]
    home = [f"{as_double(total)} / {m} / 1e6" for total in sums]
    distance = haversine_km(degrees("base.lat"), degrees("base.lon"), home[0], home[1])
    return f"CASE WHEN base.lat IS NOT NULL AND base.lon IS NOT NULL THEN {distance} END"


def mismatch_sql(feature: Derived) -> str:
    """1.0 when both country fields are known and differ, 0.0 when equal, else NULL."""
    a, b = (f"base.{row_field(name)}" for name in feature.fields)
    return f"CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL WHEN {a} <> {b} THEN 1e0 ELSE 0e0 END"


def pass_through_sql(feature: PassThrough) -> str:
    """The attribute column (`attr_<name>` of `rows.tx_table`), else the definition's default."""
    column = f"base.{ident('attr_' + feature.attribute)}"
    if feature.default is None:
        return as_double(column)
    return f"COALESCE({as_double(column)}, {double(float(feature.default))})"
