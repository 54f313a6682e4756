"""Compile a `FeatureSet` to one SQL statement (named CTEs) over relations `tx` and `labels`.

`tx` has the columns of `rows.tx_table` and `labels` those of `rows.label_table`; the result has
one row per transaction, `seq`, `transaction_id`, `ts`, then one DOUBLE column per feature in
`feature_set.names` order (NULL where the contract says NaN), ordered by `seq`.
"""

from __future__ import annotations

from fraudwatch.features.definitions import (
    Aggregation,
    Definition,
    Derived,
    DerivedKind,
    FeatureSet,
    PassThrough,
    WindowFeature,
)
from fraudwatch.features.offline.derived import (
    distance_from_home_sql,
    hour_deviation_sql,
    mismatch_sql,
    pass_through_sql,
)
from fraudwatch.features.offline.labels import fraud_sql
from fraudwatch.features.offline.plan import Plan
from fraudwatch.features.offline.sequence import (
    first_seen_sql,
    lookback_sql,
    previous_position_sql,
)
from fraudwatch.features.offline.sql import MICROS, ident, key_present
from fraudwatch.features.offline.windows import count_sql, numeric_sql, zscore_sql


def compile_feature_set(
    feature_set: FeatureSet, *, tx: str = "tx", labels: str = "labels", ordered: bool = True
) -> str:
    """The SELECT computing every feature of `feature_set` for every row of `tx`.

    `tx` and `labels` are relations: table names or any FROM item (`read_parquet('...')`);
    `ordered=False` leaves out the final `ORDER BY seq` (for use as a subquery).
    """
    plan = Plan(horizon_us=feature_set.longest_window_s * MICROS)
    selects = [
        f"CAST({feature_sql(plan, definition)} AS DOUBLE) AS {ident(definition.name)}"
        for definition in feature_set
    ]
    return plan.render(tx, labels, selects, ordered=ordered)


def feature_sql(plan: Plan, definition: Definition) -> str:
    """One feature's DOUBLE expression; entity features are NULL for rows without a key."""
    if isinstance(definition, PassThrough):
        return pass_through_sql(definition)
    if isinstance(definition, Derived):
        if definition.derived_kind is DerivedKind.MISMATCH:
            return mismatch_sql(definition)
        return _keyed(definition.entity, _derived_sql(plan, definition))
    return _keyed(definition.entity, _window_sql(plan, definition))


def _keyed(entity: tuple[str, ...], expr: str) -> str:
    return f"CASE WHEN {key_present(entity)} THEN {expr} END"


def _derived_sql(plan: Plan, definition: Derived) -> str:
    kind = definition.derived_kind
    if kind is DerivedKind.ZSCORE:
        return zscore_sql(plan, definition)
    if kind is DerivedKind.HOUR_DEVIATION:
        return hour_deviation_sql(plan, definition)
    if kind is DerivedKind.DISTANCE_FROM_HOME:
        return distance_from_home_sql(plan, definition)
    return previous_position_sql(plan, definition)


def _window_sql(plan: Plan, definition: WindowFeature) -> str:
    agg = definition.aggregation
    if agg is Aggregation.COUNT:
        return count_sql(plan, definition)
    if agg in (Aggregation.FRAUD_COUNT, Aggregation.FRAUD_RATE):
        return fraud_sql(plan, definition)
    if agg in (Aggregation.LAST, Aggregation.TIME_SINCE_LAST):
        return lookback_sql(plan, definition)
    if agg is Aggregation.FIRST_SEEN:
        return first_seen_sql(plan, definition)
    return numeric_sql(plan, definition)
