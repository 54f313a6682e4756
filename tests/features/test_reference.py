"""The oracle itself, on hand-checked cases: window bounds, ties, filters, labels, geo."""

from __future__ import annotations

import math

from fraudwatch.features.definitions import Aggregation as A
from fraudwatch.features.definitions import Derived, DerivedKind, FeatureSet, Filter, WindowFeature
from fraudwatch.features.reference import reference_features
from fraudwatch.features.rows import LabelRow, merge_stream

from .strategies import T0, S, random_stream, random_transactions, targeted_feature_set


def _rows(times: list[int], **fields: object) -> list:
    import random

    rows = random_transactions(random.Random(0), len(times))
    for seq, (row, ts) in enumerate(zip(rows, times, strict=True)):
        row.seq, row.transaction_id, row.ts, row.card, row.amount = (
            seq,
            f"t{seq}",
            ts,
            "c",
            1_000_000,
        )
        row.channel = "pos"
        for name, value in fields.items():
            setattr(row, name, value)
    return rows


def test_window_excludes_exactly_w_ago_and_later_arrivals_at_the_same_time() -> None:
    fs = FeatureSet("t", (WindowFeature(entity=("card",), agg=A.COUNT, window="10m"),))
    rows = _rows([T0, T0 + 600 * S, T0 + 600 * S, T0 + 601 * S])
    out = reference_features(fs, merge_stream(rows, []))
    assert [out[i]["tx_count_10m_by_card"] for i in range(4)] == [1.0, 1.0, 2.0, 3.0]


def test_filter_and_label_known_at_the_same_time() -> None:
    pos = Filter("channel", ("pos",))
    fs = FeatureSet(
        "t",
        (
            WindowFeature(entity=("card",), agg=A.COUNT, window="1h", where=pos),
            WindowFeature(entity=("card",), agg=A.FRAUD_COUNT, window="1h"),
            WindowFeature(entity=("card",), agg=A.FRAUD_RATE, window="1h", label_delay="10m"),
        ),
    )
    rows = _rows([T0, T0 + 60 * S, T0 + 700 * S])
    rows[1].channel = "ecommerce"
    labels = [LabelRow("t0", T0 + 60 * S, True), LabelRow("t0", T0 + 61 * S, False)]
    out = reference_features(fs, merge_stream(rows, labels))
    assert [out[i]["tx_count_1h_by_card_where_channel_pos"] for i in range(3)] == [1.0, 1.0, 2.0]
    assert [out[i]["fraud_count_1h_by_card"] for i in range(3)] == [0.0, 1.0, 1.0]
    rate = [out[i]["fraud_rate_1h_by_card_delay_10m"] for i in range(3)]
    assert math.isnan(rate[0]) and math.isnan(rate[1]) and rate[2] == 0.5


def test_derived_geo_and_zscore() -> None:
    fs = FeatureSet(
        "t",
        (
            Derived(DerivedKind.SPEED_FROM_PREVIOUS, entity=("card",)),
            Derived(DerivedKind.ZSCORE, entity=("card",), window="1h"),
            WindowFeature(entity=("card",), agg=A.TIME_SINCE_LAST),
        ),
    )
    rows = _rows([T0, T0 + 30 * S])
    rows[0].lat, rows[0].lon, rows[1].lat, rows[1].lon = 0, 0, 0, 1_000_000
    rows[1].amount = 3_000_000
    out = reference_features(fs, merge_stream(rows, []))
    assert math.isnan(out[0]["speed_from_previous_kmh_by_card"])
    assert round(out[1]["speed_from_previous_kmh_by_card"], 1) == round(111.195 * 60, 1)
    assert out[1]["amount_zscore_1h_by_card"] == (3e6 - 2e6) / math.sqrt(2e12)
    assert out[1]["time_since_last_by_card"] == 30.0


def test_targeted_set_gives_a_value_per_feature_and_transaction() -> None:
    fs = targeted_feature_set()
    stream = random_stream(1, 15)
    out = reference_features(fs, stream)
    assert len(out) == 15
    assert all(set(values) == set(fs.names) for values in out.values())
