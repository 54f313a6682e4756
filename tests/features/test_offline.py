"""The offline engine (SQL on DuckDB) against the oracle, on tricky streams and hand-made cases."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import (
    Aggregation as A,
)
from fraudwatch.features.definitions import (
    Definition,
    FeatureSet,
    PassThrough,
    WindowFeature,
)
from fraudwatch.features.offline import (
    OfflineEngine,
    OfflineInputError,
    build_training_set,
    compile_feature_set,
)
from fraudwatch.features.reference import reference_features
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow, label_table, tx_table
from tests.features.strategies import T0, S, random_stream, streams, targeted_feature_set

_EXACT_AGGS = {A.COUNT, A.SUM, A.MIN, A.MAX, A.DISTINCT, A.FIRST_SEEN, A.LAST, A.TIME_SINCE_LAST,
               A.FRAUD_COUNT}  # fmt: skip


def _exact(definition: Definition) -> bool:
    """Counts, flags, sums and attributes must be equal; other floats within 1e-9 relative."""
    if isinstance(definition, WindowFeature):
        return definition.aggregation in _EXACT_AGGS
    return isinstance(definition, PassThrough) or definition.derived_kind == "mismatch"


def _split(stream: list[StreamItem]) -> tuple[pa.Table, pa.Table]:
    txs = [item for item in stream if isinstance(item, TxRow)]
    labels = [item for item in stream if isinstance(item, LabelRow)]
    return tx_table(txs, ["V1"]), label_table(labels)


def _mismatches(feature_set: FeatureSet, stream: list[StreamItem]) -> list[str]:
    expected = reference_features(feature_set, stream)
    computed = OfflineEngine(feature_set).compute(*_split(stream)).to_pylist()
    assert [row["seq"] for row in computed] == sorted(expected)
    out = []
    for row in computed:
        for definition in feature_set:
            got = math.nan if row[definition.name] is None else row[definition.name]
            want = expected[row["seq"]][definition.name]
            if math.isnan(got) and math.isnan(want):
                continue
            if got == want or (
                not _exact(definition) and math.isclose(got, want, rel_tol=1e-9, abs_tol=0.0)
            ):
                continue
            out.append(f"seq {row['seq']} {definition.name}: {got!r} != {want!r}")
    return out


@pytest.mark.parametrize("seed", range(8))
def test_targeted_set_matches_the_oracle(seed: int) -> None:
    assert _mismatches(targeted_feature_set(), random_stream(seed, 50)) == []


@pytest.mark.parametrize("seed", range(4))
def test_default_set_matches_the_oracle(seed: int) -> None:
    assert _mismatches(default_feature_set(), random_stream(1000 + seed, 60)) == []


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams(30))
def test_generated_streams_match_the_oracle(stream: list[StreamItem]) -> None:
    assert _mismatches(targeted_feature_set(), stream) == []


def _tx(seq: int, ts: int, card: str | None = "c", amount: int = 1_000_000) -> TxRow:
    return TxRow(seq, f"t{seq}", ts, amount, 0, card, "u", None, "m", None, None, None, None,
                 "pos", None, "EUR", "test", "FR", "FR", None, None, None, None, {})  # fmt: skip


def test_window_bounds_are_lexicographic_on_ts_and_seq() -> None:
    hour = 3600 * S
    rows = [
        _tx(1, T0, amount=1),  # exactly 1 h before seq 2 and 3: excluded for them (not for seq 0)
        _tx(3, T0, amount=2),  # exactly 1 h before seq 2, arrived later: included for it
        _tx(2, T0 + hour, amount=4),
        _tx(0, T0 + hour, amount=8),  # same ts, arrived before seq 2: included
        _tx(4, T0 + hour, amount=16),  # same ts, arrived after seq 2: its future (not 4's past)
        _tx(5, T0 + hour, card=None),  # no key: no history, null features
    ]
    fs = FeatureSet("bounds", (WindowFeature(("card",), A.SUM, "amount", "1h"),))
    rows.sort(key=lambda r: (r.ts, r.seq))
    result = OfflineEngine(fs).compute(tx_table(rows), label_table([])).to_pylist()
    sums = {row["seq"]: row["amount_sum_1h_by_card"] for row in result}
    assert sums == {0: 11e-6, 1: 1e-6, 2: 14e-6, 3: 3e-6, 4: 28e-6, 5: None}


def test_training_set_takes_the_latest_label_known_by_as_of() -> None:
    rows = [_tx(0, T0), _tx(1, T0 + S), _tx(2, T0 + 2 * S)]
    labels = [
        LabelRow("t0", T0 + 10, True),
        LabelRow("t0", T0 + 20, False),  # overturned later
        LabelRow("t1", T0 + 30, True),  # known after as_of
        LabelRow("t2", T0 + 5, False),
        LabelRow("t2", T0 + 5, True),  # same time: the later input wins
    ]
    fs = FeatureSet("tiny", (WindowFeature(("card",), A.COUNT, window="1h"),))
    table = build_training_set(fs, tx_table(rows), label_table(labels), as_of_us=T0 + 25)
    assert table.column_names == ["seq", "transaction_id", "ts", "tx_count_1h_by_card", "label",
                                  "label_known_at"]  # fmt: skip
    assert table.column("label").to_pylist() == [0, None, 1]
    assert table.column("label_known_at").to_pylist() == [T0 + 20, None, T0 + 5]
    everything = build_training_set(fs, tx_table(rows), label_table(labels))
    assert everything.column("label").to_pylist() == [0, 1, 1]


def test_parquet_input_and_absent_attributes(tmp_path: Path) -> None:
    stream = random_stream(7, 30)
    tx, labels = _split(stream)
    pq.write_table(tx.drop_columns(["attr_V1"]), tmp_path / "tx.parquet")
    pq.write_table(labels, tmp_path / "labels.parquet")
    fs = FeatureSet("p", (WindowFeature(("card",), A.COUNT, window="1h"), PassThrough("V1"),
                          PassThrough("V2", default=-1.0)))  # fmt: skip
    table = OfflineEngine(fs).compute_parquet(tmp_path / "tx.parquet", tmp_path / "labels.parquet")
    expected = OfflineEngine(fs).compute(tx, labels)
    assert table.column("tx_count_1h_by_card").equals(expected.column("tx_count_1h_by_card"))
    assert table.column("attr_v1").null_count == table.num_rows
    assert set(table.column("attr_v2").to_pylist()) == {-1.0}


def test_seq_beyond_the_order_key_is_refused() -> None:
    fs = FeatureSet("tiny", (WindowFeature(("card",), A.COUNT, window="1h"),))
    with pytest.raises(OfflineInputError):
        OfflineEngine(fs).compute(tx_table([_tx(2**32, T0)]), label_table([]))


def test_compiled_sql_is_named_ctes() -> None:
    sql = compile_feature_set(default_feature_set())
    for cte in ("base AS", "win_card AS", "win_customer_x_merchant AS", "fraud_known AS",
                "hour_buckets_customer AS"):  # fmt: skip
        assert cte in sql
