"""Window aggregations over one field: count, sum, mean, std, min, max, distinct, ratio, z-score.

Each reads the exact integer aggregates of its window (`n` non-null values, `S` = Σ, `Q` = Σ² in
HUGEINT) and applies the float formula of docs/features.md in the same order of operations as
the oracle, e.g. `CAST(S AS DOUBLE) / n / 1e6`; the std numerator `n·Q - S²` and denominator
`n·(n - 1)` stay exact integers until the final division.
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudwatch.features.definitions import Aggregation, Derived, WindowFeature
from fraudwatch.features.offline.plan import Plan
from fraudwatch.features.offline.sql import (
    MICROS,
    SCALE,
    as_double,
    entity_columns,
    filter_sql,
    filtered,
    frame,
    row_field,
)


@dataclass(frozen=True)
class WindowStats:
    """Columns of one field's exact window aggregates for one entity, window and filter."""

    plan: Plan
    partition: tuple[str, ...]
    frame: str
    predicate: str | None
    column: str
    tag: str

    def aggregate(self, aggregate: str, hint: str) -> str:
        return self.plan.window(
            self.partition, filtered(aggregate, self.predicate), self.frame, f"{hint}_{self.tag}"
        )

    @property
    def n(self) -> str:
        if self.column == "amount":  # never null: the same column as the event count
            return self.aggregate("COUNT(*)", "n")
        return self.aggregate(f"COUNT({self.column})", f"n_{self.column}")

    @property
    def s(self) -> str:
        return f"COALESCE({self.aggregate(f'SUM({self.column})', f'sum_{self.column}')}, 0)"

    @property
    def q(self) -> str:
        square = f"SUM(CAST({self.column} AS HUGEINT) * {self.column})"
        return f"COALESCE({self.aggregate(square, f'sumsq_{self.column}')}, 0)"

    def sigma(self) -> str:
        """sigma in the field's integer unit (`std` before its scaling); NULL when n < 2."""
        n, s, q = self.n, self.s, self.q
        ratio = f"{as_double(f'{n} * {q} - {s} * {s}')} / {as_double(f'{n} * ({n} - 1)')}"
        return f"CASE WHEN {n} >= 2 THEN sqrt({ratio}) END"


def stats(plan: Plan, feature: WindowFeature | Derived, column: str) -> WindowStats:
    """The window aggregates of `column` for a feature's entity, window and filter."""
    assert feature.window_s is not None
    where = feature.where if isinstance(feature, WindowFeature) else None
    tag = f"{feature.window}" + (f"_where_{where.slug}" if where else "")
    return WindowStats(
        plan,
        entity_columns(feature.entity),
        frame(feature.window_s * MICROS),
        filter_sql(where),
        column,
        tag,
    )


def count_sql(plan: Plan, feature: WindowFeature) -> str:
    """`count`: events of the key in the window (its field, if any, is ignored)."""
    window = stats(plan, feature, "*")
    counted = window.plan.window(
        window.partition, filtered("COUNT(*)", window.predicate), window.frame, f"n_{window.tag}"
    )
    return as_double(counted)


def numeric_sql(plan: Plan, feature: WindowFeature) -> str:
    """sum, mean, std, min, max, distinct and ratio_to_mean of the feature's field."""
    assert feature.field is not None
    column = row_field(feature.field)
    window = stats(plan, feature, column)
    agg = feature.aggregation
    if agg is Aggregation.DISTINCT:
        return as_double(window.aggregate(f"COUNT(DISTINCT {column})", f"distinct_{column}"))
    scale = SCALE[column]
    n, s = window.n, window.s
    if agg is Aggregation.SUM:
        return f"{as_double(s)} / {scale}"
    if agg is Aggregation.MEAN:
        return f"CASE WHEN {n} > 0 THEN {as_double(s)} / {n} / {scale} END"
    if agg is Aggregation.STD:
        return f"{window.sigma()} / {scale}"
    if agg in (Aggregation.MIN, Aggregation.MAX):
        extreme = window.aggregate(f"{agg.value.upper()}({column})", f"{agg.value}_{column}")
        return f"{as_double(extreme)} / {scale}"
    assert agg is Aggregation.RATIO_TO_MEAN, agg
    current = f"base.{column}"
    exact = f"CAST({current} AS HUGEINT) * {n}"
    return f"CASE WHEN {s} <> 0 THEN {as_double(exact)} / {as_double(s)} END"


def zscore_sql(plan: Plan, feature: Derived) -> str:
    """`(float(amount_i) - float(S)/n) / sigma`, NULL when n < 2 or sigma = 0."""
    window = stats(plan, feature, "amount")
    sigma = window.sigma()
    mean = f"{as_double(window.s)} / {window.n}"
    value = f"({as_double('base.amount')} - {mean}) / ({sigma})"
    return f"CASE WHEN {window.n} >= 2 AND ({sigma}) <> 0 THEN {value} END"


def count_in_window(plan: Plan, partition: tuple[str, ...], window: str, hint: str) -> str:
    """`COUNT(*)` of the key's events in a frame (no filter)."""
    return plan.window(partition, "COUNT(*)", window, hint)
