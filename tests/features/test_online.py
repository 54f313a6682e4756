"""The online engine against the oracle, batch against one-by-one, lateness, expiry, snapshots."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest

from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import Aggregation as A
from fraudwatch.features.definitions import FeatureSet, Filter, WindowFeature
from fraudwatch.features.online import LATE_EVENT, InProcessState, OnlineEngine, SnapshotError
from fraudwatch.features.online.state import StateKey
from fraudwatch.features.online.windows import KeyState
from fraudwatch.features.reference import reference_features
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow

from .strategies import S, random_stream, targeted_feature_set

TARGETED = targeted_feature_set()
DEFAULT = default_feature_set()


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _assert_matches(fs: FeatureSet, seq: int, got: np.ndarray, want: dict[str, float]) -> None:
    wrong = [(n, v, want[n]) for n, v in zip(fs.names, got, strict=True) if not _same(v, want[n])]
    assert not wrong, f"seq {seq}: {wrong[:5]}"


@pytest.mark.parametrize("fs", [TARGETED, DEFAULT], ids=["targeted", "default"])
@pytest.mark.parametrize("seed", range(12))
def test_engine_equals_the_oracle(fs: FeatureSet, seed: int) -> None:
    stream = random_stream(seed, 45)
    want = reference_features(fs, stream)
    engine = OnlineEngine(fs)
    for item in stream:
        result = engine.process(item)
        if result is not None:
            assert result.values is not None
            _assert_matches(fs, result.seq, result.values, want[result.seq])


def test_streams_exercise_labels_and_windows() -> None:
    values = [
        v for seed in range(6) for v in reference_features(TARGETED, random_stream(seed)).values()
    ]
    assert max(v["fraud_count_1h_by_card"] for v in values) >= 1
    assert max(v["fraud_count_1h_by_merchant_delay_10m"] for v in values) >= 1
    assert max(v["tx_count_10m_by_card"] for v in values) >= 3


@pytest.mark.parametrize("seed", range(4))
def test_batch_equals_one_by_one(seed: int) -> None:
    stream = random_stream(seed, 60)
    single = OnlineEngine(TARGETED)
    rows = [r.values for r in map(single.process, stream) if r is not None]
    batch = OnlineEngine(TARGETED).process_batch(stream)
    assert batch.values.shape == (len(rows), len(TARGETED))
    np.testing.assert_array_equal(batch.values, np.array(rows))
    assert batch.late == []


def test_snapshot_and_restore_continue_identically(tmp_path: Path) -> None:
    stream = random_stream(7, 80)
    whole = OnlineEngine(DEFAULT, allowed_lateness_s=5).process_batch(stream).values
    first = OnlineEngine(DEFAULT, allowed_lateness_s=5)
    head = first.process_batch(stream[:50]).values
    first.snapshot(tmp_path / "state.snap")
    restored = OnlineEngine.restore(tmp_path / "state.snap", DEFAULT)
    tail = restored.process_batch(stream[50:]).values
    np.testing.assert_array_equal(np.vstack([head, tail]), whole)
    with pytest.raises(SnapshotError):
        OnlineEngine.restore(tmp_path / "state.snap", TARGETED)


def _shuffle_within(
    stream: list[StreamItem], lateness_us: int, rng: random.Random
) -> list[StreamItem]:
    """Arrival order: a few transactions delayed behind later items by at most `lateness_us`."""
    arrived = list(stream)
    for _ in range(len(arrived) // 3):
        i = rng.randrange(len(arrived))
        item = arrived[i]
        if not isinstance(item, TxRow):
            continue
        j = i
        while j + 1 < len(arrived) and _time(arrived[j + 1]) <= item.ts + lateness_us:
            j += 1
        j = rng.randint(i, j)
        arrived.insert(j, arrived.pop(i))
    return arrived


def _time(item: StreamItem) -> int:
    return item.known_at if isinstance(item, LabelRow) else item.ts


@pytest.mark.parametrize("seed", range(6))
def test_late_events_use_what_had_arrived(seed: int) -> None:
    rng = random.Random(seed)
    stream = _shuffle_within(random_stream(seed, 30), 600 * S, rng)
    engine = OnlineEngine(TARGETED, allowed_lateness_s=600)
    for index, item in enumerate(stream):
        result = engine.process(item)
        if result is None:
            continue
        assert result.rejected is None and result.values is not None
        want = reference_features(TARGETED, stream[: index + 1])[result.seq]
        _assert_matches(TARGETED, result.seq, result.values, want)


def test_events_later_than_the_allowed_lateness_are_rejected() -> None:
    stream = [item for item in random_stream(3, 30) if isinstance(item, TxRow)]
    newest = max(row.ts for row in stream)
    old = next(row for row in stream if row.ts < newest - 10 * S)
    engine = OnlineEngine(TARGETED, allowed_lateness_s=10)
    engine.process_batch([row for row in stream if row is not old])
    result = engine.process(old)
    assert result is not None and result.rejected == LATE_EVENT and result.values is None
    batch = engine.process_batch([old])
    assert batch.late == [0] and np.isnan(batch.values).all()


def test_memory_stays_bounded_over_a_long_stream() -> None:
    fs = FeatureSet(
        "bounded",
        (
            WindowFeature(entity=("card",), agg=A.COUNT, window="10m"),
            WindowFeature(entity=("card",), agg=A.FIRST_SEEN, field="merchant_id", window="10m"),
            WindowFeature(entity=("merchant",), agg=A.FRAUD_RATE, window="10m"),
        ),
    )
    engine = OnlineEngine(fs)
    base = next(item for item in random_stream(0, 1) if isinstance(item, TxRow))
    peak = 0
    for seq in range(20_000):
        row = TxRow(**{**{f: getattr(base, f) for f in base.__slots__}, "seq": seq})
        row.ts, row.transaction_id = base.ts + seq * S, f"t{seq}"
        row.card, row.merchant = f"c{seq}", f"m{seq % 50}"  # every card is new: keys pile up
        engine.process(row)
        engine.process(LabelRow(row.transaction_id, row.ts, seq % 7 == 0))
        peak = max(peak, engine.stats()["keys"]) if seq % 1000 == 0 else peak
    stats = engine.stats()
    assert stats["keys"] <= 600 + 50 + 256  # 10 minutes of cards, the merchants, one sweep
    assert stats["events_held"] <= stats["keys"] + 2 * 600  # window contents, compaction slack
    assert peak <= 600 + 50 + 256
    assert stats["transactions_held"] <= 600 + 256


class _RemoteLike:
    """A `StateStore` that is not `InProcessState`: the engine takes its load/save path."""

    def __init__(self) -> None:
        self.inner = InProcessState()

    def load(self, keys: Iterable[StateKey]) -> dict[StateKey, KeyState]:
        return self.inner.load(keys)

    def save(self, states: Mapping[StateKey, KeyState]) -> None:
        self.inner.save(states)

    def expire(self, before_ts: int) -> int:
        return self.inner.expire(before_ts)

    def items(self) -> Iterator[tuple[StateKey, KeyState]]:
        return self.inner.items()

    def __len__(self) -> int:
        return len(self.inner)


@pytest.mark.parametrize("seed", range(3))
def test_any_state_store_gives_the_same_values(seed: int) -> None:
    stream = random_stream(seed, 60)
    fast = OnlineEngine(DEFAULT).process_batch(stream).values
    other = OnlineEngine(DEFAULT, state=_RemoteLike()).process_batch(stream).values
    np.testing.assert_array_equal(fast, other)


def test_keys_that_never_pass_a_filter_hold_no_state() -> None:
    fs = FeatureSet(
        "filtered",
        (
            WindowFeature(
                entity=("card",), agg=A.COUNT, window="10m", where=Filter("channel", ("pos",))
            ),
        ),
    )
    rows = [item for item in random_stream(1, 40) if isinstance(item, TxRow)]
    engine = OnlineEngine(fs)
    engine.process_batch(rows)
    passing = {row.card for row in rows if row.card is not None and row.channel == "pos"}
    assert engine.stats()["keys"] == len(passing)
