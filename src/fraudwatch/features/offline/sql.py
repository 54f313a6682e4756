"""SQL building blocks shared by every aggregation family of the offline engine.

Windows are lexicographic on `(ts, seq)` (docs/features.md, "Windows"). Rather than correcting a
plain `RANGE` frame on `ts` for same-timestamp peers and for events at exactly `ts - w`, every row
gets one exact integer *order key* `ok = ts * 2^32 + seq` (a HUGEINT): lexicographic order on
`(ts, seq)` is numeric order on `ok`, `(ts_i - w, seq_i)` is `ok_i - w * 2^32`, and `ok` is unique,
so the window `(ok_i - w * 2^32, ok_i]` is exactly `RANGE BETWEEN w * 2^32 - 1 PRECEDING AND
CURRENT ROW`. Standard SQL (PostgreSQL accepts the same frame over NUMERIC); `seq` must stay
below 2^32.
"""

from __future__ import annotations

import math

from fraudwatch.features.definitions import Filter
from fraudwatch.features.enrich.geo import EARTH_RADIUS_KM, MIN_TRAVEL_SECONDS
from fraudwatch.features.rows import ENTITY_FIELD, ROW_FIELD

ORDER_SHIFT = 2**32
"""Multiplier of `ts` in the order key; `seq` must be smaller."""
ORDER_KEY = f"CAST(ts AS HUGEINT) * {ORDER_SHIFT} + seq"
MICROS = 1_000_000
#: numeric row field -> divisor turning its integer into the feature's unit (as in the oracle)
SCALE = {"amount": "1e6", "lat": "1e6", "lon": "1e6", "hour": "1e0"}
# DOUBLE literals in scientific notation (a plain `3600.0` would be a DECIMAL in DuckDB)


def double(value: float) -> str:
    """A DOUBLE literal that parses back to exactly `value`."""
    text = repr(value)
    return text if "e" in text else f"{text}e0"


_DEGREES_TO_RADIANS = double(math.pi / 180)  # what math.radians multiplies by
_RADIUS = double(EARTH_RADIUS_KM)
_MIN_SECONDS = double(MIN_TRAVEL_SECONDS)


def ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def big(value: int) -> str:
    """An exact integer literal wide enough for order-key offsets."""
    return f"CAST({value} AS HUGEINT)"


def row_field(field: str) -> str:
    """Definition field name (`merchant_id`) -> row column (`merchant`)."""
    return ROW_FIELD[field]


def entity_columns(entity: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(ENTITY_FIELD[name] for name in entity)


def key_present(entity: tuple[str, ...], table: str = "base") -> str:
    """The row has a key for this entity (or pair): every part non-null."""
    return " AND ".join(f"{table}.{col} IS NOT NULL" for col in entity_columns(entity))


def filter_sql(where: Filter | None, table: str | None = None) -> str | None:
    """The `where` predicate (over `table`'s columns); NULL values never match (SQL semantics)."""
    if where is None:
        return None
    values = ", ".join(literal(value) for value in where.values)
    negation = "NOT " if where.op == "not_in" else ""
    column = row_field(where.field) if table is None else f"{table}.{row_field(where.field)}"
    return f"{column} {negation}IN ({values})"


def filtered(aggregate: str, predicate: str | None) -> str:
    """`COUNT(*)` -> `COUNT(*) FILTER (WHERE ...)` when there is a filter."""
    return aggregate if predicate is None else f"{aggregate} FILTER (WHERE {predicate})"


def frame(lower_exclusive_us: int, upper_inclusive_us: int = 0, *, strict: bool = False) -> str:
    """Order keys in `(ok - lower, ok - upper]` (time offsets in µs back from the current row).

    `strict` excludes the current row itself (earlier events only; `upper` must be 0).
    """
    lower = big(lower_exclusive_us * ORDER_SHIFT - 1)
    if strict:
        return f"RANGE BETWEEN {lower} PRECEDING AND 1 PRECEDING"
    if upper_inclusive_us == 0:
        return f"RANGE BETWEEN {lower} PRECEDING AND CURRENT ROW"
    return f"RANGE BETWEEN {lower} PRECEDING AND {big(upper_inclusive_us * ORDER_SHIFT)} PRECEDING"


def as_double(expr: str) -> str:
    return f"CAST({expr} AS DOUBLE)"


def degrees(micro_degrees: str) -> str:
    """Row integer (millionths of a degree) -> degrees, as `lat / 1e6` in Python."""
    return f"({as_double(micro_degrees)} / 1e6)"


def haversine_km(lat1: str, lon1: str, lat2: str, lon2: str) -> str:
    """`enrich.geo.haversine_km_scalar` in SQL, same operations in the same order (degrees in)."""
    phi1 = f"({lat1} * {_DEGREES_TO_RADIANS})"
    phi2 = f"({lat2} * {_DEGREES_TO_RADIANS})"
    d_lambda = f"(({lon2} - {lon1}) * {_DEGREES_TO_RADIANS})"
    a = (
        f"(pow(sin(({phi2} - {phi1}) / 2), 2)"
        f" + cos({phi1}) * cos({phi2}) * pow(sin({d_lambda} / 2), 2))"
    )
    # not LEAST(a, 1): SQL's LEAST skips NULLs, and a missing position must stay NULL
    capped = f"CASE WHEN {a} > 1e0 THEN 1e0 ELSE {a} END"
    return f"(2e0 * {_RADIUS} * asin(sqrt({capped})))"


def speed_kmh(distance_km: str, seconds: str) -> str:
    """`enrich.geo.implied_speed_kmh_scalar`: km * 3600 / max(|seconds|, 60)."""
    return f"({distance_km} * 3.6e3 / GREATEST(abs({seconds}), {_MIN_SECONDS}))"
