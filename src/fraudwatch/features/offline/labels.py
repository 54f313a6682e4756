"""Label-aware features (fraud_count, fraud_rate) and the labels of a training set.

A transaction is fraud from its first `is_fraud` label, and (as online) only labels known no
earlier than `ts_j - H` count. Fraud labels are rare, so `fraud_count` joins each transaction
with the few fraud transactions of its key whose order key lies in the (delay-shifted) window and
whose label was known by `ts_i`: a hash join on the key with range conditions, small in practice.
"""

from __future__ import annotations

from fraudwatch.features.definitions import Aggregation, WindowFeature, window_seconds
from fraudwatch.features.offline.plan import Plan
from fraudwatch.features.offline.sql import (
    MICROS,
    ORDER_SHIFT,
    as_double,
    big,
    entity_columns,
    filter_sql,
    filtered,
    frame,
)


def _fraud_transactions(plan: Plan) -> str:
    known = plan.add_cte(
        "fraud_known",
        "SELECT tx_j.seq, MIN(label.known_at) AS fraud_known_at\n"
        "  FROM base AS tx_j JOIN labels_in AS label"
        " ON label.transaction_id = tx_j.transaction_id\n"
        f"  WHERE label.is_fraud AND label.known_at >= tx_j.ts - {plan.horizon_us}\n"
        "  GROUP BY tx_j.seq",
    )
    return plan.add_cte(
        "fraud_tx",
        f"SELECT base.*, {known}.fraud_known_at FROM base JOIN {known} ON {known}.seq = base.seq",
    )


def fraud_sql(plan: Plan, feature: WindowFeature) -> str:
    """`fraud_count` (joined) or `fraud_rate` (that count over the shifted window's count)."""
    assert feature.window_s is not None
    window_us = feature.window_s * MICROS
    delay_us = window_seconds(feature.label_delay) * MICROS if feature.label_delay else 0
    columns = entity_columns(feature.entity)
    fraud_tx = _fraud_transactions(plan)
    conditions = [f"j.{c} = cur.{c}" for c in columns] + [
        f"j.ok > cur.ok - {big((window_us + delay_us) * ORDER_SHIFT)}",
        f"j.ok <= cur.ok - {big(delay_us * ORDER_SHIFT)}",
        "j.fraud_known_at <= cur.ts",
    ]
    predicate = filter_sql(feature.where, "j")
    if predicate is not None:
        conditions.append(predicate)
    tag = "_x_".join(columns) + f"_{feature.window}"
    tag += f"_delay_{feature.label_delay}" if feature.label_delay else ""
    tag += f"_where_{feature.where.slug}" if feature.where else ""
    on = "\n    AND ".join(conditions)
    counts = plan.add_cte(
        f"fraud_{tag}",
        f"SELECT cur.seq, COUNT(*) AS fraud_count\n  FROM base AS cur JOIN {fraud_tx} AS j\n"
        f"    ON {on}\n  GROUP BY cur.seq",
        joined=True,
    )
    fraud_count = f"COALESCE({counts}.fraud_count, 0)"
    if feature.aggregation is Aggregation.FRAUD_COUNT:
        return as_double(fraud_count)
    assert feature.aggregation is Aggregation.FRAUD_RATE
    n = plan.window(
        columns,
        filtered("COUNT(*)", filter_sql(feature.where)),
        frame(window_us + delay_us, delay_us),
        f"n_{tag}",
    )
    return f"CASE WHEN {n} > 0 THEN {as_double(fraud_count)} / {n} END"


def training_labels_sql(labels: str, as_of_us: int | None) -> str:
    """The latest label of each transaction known by `as_of_us` (all labels when None).

    `labels` must carry a `label_index` column (input order) that breaks ties in `known_at`.
    """
    known = "" if as_of_us is None else f" WHERE known_at <= {int(as_of_us)}"
    return (
        "SELECT transaction_id, is_fraud, known_at FROM (\n"
        "  SELECT transaction_id, is_fraud, known_at, ROW_NUMBER() OVER (\n"
        "    PARTITION BY transaction_id ORDER BY known_at DESC, label_index DESC) AS rank\n"
        f"  FROM {labels}{known}\n) AS ranked WHERE rank = 1"
    )
