"""The native engine against `OnlineEngine`: bit-identical values (NaNs included) in order, late,
rejected, with labels, batched or one by one, across snapshots and expiry; and against the
offline engine through the parity check."""

from __future__ import annotations

import itertools
import math
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import Aggregation as A
from fraudwatch.features.definitions import Derived, FeatureSet, PassThrough, WindowFeature
from fraudwatch.features.enrich.geo import haversine_km_scalar
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.history import load_history
from fraudwatch.features.offline import OfflineEngine
from fraudwatch.features.online import (
    LATE_EVENT,
    InProcessState,
    OnlineEngine,
    SnapshotError,
    online_engine,
)
from fraudwatch.features.online.native import NativeEngine, NativeRangeError
from fraudwatch.features.online.native.arith import haversine_km, sigma, to_float
from fraudwatch.features.online.native.columns import SMALL, Codes, KeyIds, tx_columns
from fraudwatch.features.online.native.state import LabelBook, Spares
from fraudwatch.features.parity import compare
from fraudwatch.features.rows import (
    LabelRow,
    StreamItem,
    TxRow,
    label_table,
    merge_stream,
    tx_table,
)
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.simulate import SimulationConfig, simulate

from .strategies import S, random_stream, random_transactions, streams, targeted_feature_set

M = ("ip_country", "billing_country")
TARGETED = targeted_feature_set()
DEFAULT = default_feature_set()


def _simulated(transactions: int, seed: int) -> list[StreamItem]:
    with tempfile.TemporaryDirectory() as tmp:
        simulate(SimulationConfig(transactions=transactions, seed=seed), tmp, "parquet")
        ctx = IngestContext(tokenizer=CardTokenizer(bytes(32)))
        history = load_history("parquet", tmp, ctx, default_locator())
    return merge_stream(history.transactions, history.labels)


@pytest.fixture(scope="module")
def simulated() -> list[StreamItem]:
    return _simulated(3000, 5)


def _both(
    fs: FeatureSet, stream: list[StreamItem], lateness_s: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    native = NativeEngine(fs, allowed_lateness_s=lateness_s).process_batch(stream)
    python = OnlineEngine(fs, allowed_lateness_s=lateness_s).process_batch(stream)
    assert native.seqs == python.seqs and native.late == python.late
    return native.values, python.values


def _assert_identical(got: np.ndarray, want: np.ndarray, fs: FeatureSet) -> None:
    """Equal bits: NaN where NaN, the same float elsewhere (-0.0 and 0.0 told apart)."""
    assert got.shape == want.shape
    same = (got.view(np.int64) == want.view(np.int64)) | (np.isnan(got) & np.isnan(want))
    wrong = [(int(i), fs.names[j], got[i, j], want[i, j]) for i, j in np.argwhere(~same)[:5]]
    assert not wrong, wrong


@pytest.mark.parametrize("fs", [TARGETED, DEFAULT], ids=["targeted", "default"])
@pytest.mark.parametrize("seed", range(10))
def test_native_equals_the_python_engine(fs: FeatureSet, seed: int) -> None:
    _assert_identical(*_both(fs, random_stream(seed, 60)), fs)


@pytest.mark.parametrize(
    "fs",
    [
        FeatureSet("stateless", (PassThrough("V1", default=2.0), Derived("mismatch", fields=M))),
        FeatureSet("windowless", (WindowFeature(entity=("card",), agg=A.TIME_SINCE_LAST),)),
    ],
    ids=["stateless", "windowless"],
)
def test_sets_without_groups_or_windows(fs: FeatureSet) -> None:
    stream = random_stream(3, 40)
    _assert_identical(*_both(fs, stream), fs)
    engine = NativeEngine(fs)
    rows = [r.values for r in map(engine.process, stream) if r is not None]
    _assert_identical(np.array(rows), OnlineEngine(fs).process_batch(stream).values, fs)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_native_equals_the_python_engine_on_simulated_streams(seed: int) -> None:
    stream = _simulated(2000, seed)
    assert any(isinstance(item, LabelRow) and item.is_fraud for item in stream)
    got, want = _both(DEFAULT, stream)
    _assert_identical(got, want, DEFAULT)
    column = DEFAULT.names.index("fraud_count_30d_by_merchant")
    assert want[:, column].max() >= 1  # labels reached the label-aware windows


def test_label_delays_filters_and_pairs_on_a_simulated_stream(simulated: list[StreamItem]) -> None:
    fs = TARGETED.with_definitions(
        [
            WindowFeature(entity=("merchant",), agg=A.FRAUD_COUNT, window="7d", label_delay="1d"),
            WindowFeature(entity=("customer", "merchant"), agg=A.SUM, field="amount", window="7d"),
        ]
    )
    _assert_identical(*_both(fs, simulated), fs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=streams(40),
    picked=st.lists(st.sampled_from(TARGETED.definitions), min_size=1, max_size=12, unique=True),
)
def test_random_feature_sets_and_streams(stream: list[StreamItem], picked: list) -> None:
    fs = FeatureSet("random", tuple(picked))
    _assert_identical(*_both(fs, stream), fs)


@pytest.mark.parametrize("seed", range(3))
def test_batch_equals_one_by_one(seed: int) -> None:
    stream = random_stream(seed, 60)
    single = NativeEngine(TARGETED)
    rows = [r.values for r in map(single.process, stream) if r is not None]
    batch = NativeEngine(TARGETED).process_batch(stream)
    _assert_identical(batch.values, np.array(rows), TARGETED)


@pytest.mark.parametrize("seed", range(3))
def test_small_batches_equal_one_batch(seed: int) -> None:
    """Batches of up to `SMALL` transactions take the plain-Python paths (keys, no labels):
    the values of one large batch, whatever the sizes."""
    stream = random_stream(seed, 300)
    whole = NativeEngine(TARGETED).process_batch(stream)
    engine = NativeEngine(TARGETED)
    rng = random.Random(seed)
    parts, late, start = [], [], 0
    while start < len(stream):
        size = rng.choice([1, 2, 5, 12, SMALL, SMALL + 1, 100])
        batch = engine.process_batch(stream[start : start + size])
        late += [sum(len(p) for p in parts) + at for at in batch.late]
        parts.append(batch.values)
        start += size
    _assert_identical(np.vstack(parts), whole.values, TARGETED)
    assert late == whole.late


KEY_FIELDS = [("card",), ("customer", "merchant"), ("card", "device", "ip")]


def _key_ids(
    rows: list[TxRow], sizes: list[int], first_code: int
) -> tuple[np.ndarray, list[dict[object, int]]]:
    """The key-id matrix of `rows` columned in batches of `sizes` (cycled), and the key dicts."""
    fields = ["amount", "hour", "lat", "lon", "card", "customer", "merchant", "device", "ip"]
    codes = Codes()
    codes.next = first_code
    codes.of([getattr(row, name) for row in rows for name in fields[4:]])  # the same codes
    keys = [KeyIds(k) for k in KEY_FIELDS]
    columns = [[fields.index(name) for name in k] for k in KEY_FIELDS]
    parts, start = [], 0
    for size in itertools.cycle(sizes):
        if start >= len(rows):
            break
        parts.append(tx_columns(rows[start : start + size], fields, codes, keys, columns)[3])
        start += size
    return np.vstack(parts), [k.ids for k in keys]


@pytest.mark.parametrize("first_code", [0, 2**31 - 8, 2**32 - 8, 2**62])
def test_few_rows_get_the_key_ids_of_many(first_code: int) -> None:
    """Batches of up to `SMALL` rows make their keys in plain Python, larger ones with numpy:
    the same ids either way and mixed (a key made by one is found by the other), null parts
    included, and codes past 31 bits, where numpy's packed int64 key wraps around; one
    transaction at a time (`KeyIds.one`) too."""
    rows = random_transactions(random.Random(first_code), 300)
    want, want_keys = _key_ids(rows, [len(rows)], first_code)
    assert (want == -1).any()  # null parts
    for sizes in ([1], [7], [SMALL], [3, SMALL + 1, 5, 100]):
        got, got_keys = _key_ids(rows, sizes, first_code)
        np.testing.assert_array_equal(got, want)
        assert got_keys == want_keys
    codes = Codes()
    codes.next = first_code
    keys = [KeyIds(k) for k in KEY_FIELDS]
    fields = ["card", "customer", "merchant", "device", "ip"]
    columns = [[fields.index(name) for name in k] for k in KEY_FIELDS]
    one_by_one = []
    for row in rows:
        values = codes.of([getattr(row, name) for name in fields])
        one_by_one.append([k.one(values, c) for k, c in zip(keys, columns, strict=True)])
    np.testing.assert_array_equal(one_by_one, want)
    assert [k.ids for k in keys] == want_keys


def _delayed(stream: list[StreamItem], delay_us: int, rng: random.Random) -> list[StreamItem]:
    """Arrival order: a third of the transactions delayed behind later items by <= delay_us."""
    arrived = list(stream)
    for _ in range(len(arrived) // 3):
        i = rng.randrange(len(arrived))
        item = arrived[i]
        if not isinstance(item, TxRow):
            continue
        j = i
        while j + 1 < len(arrived) and _time(arrived[j + 1]) <= item.ts + delay_us:
            j += 1
        arrived.insert(rng.randint(i, j), arrived.pop(i))
    return arrived


def _time(item: StreamItem) -> int:
    return item.known_at if isinstance(item, LabelRow) else item.ts


@pytest.mark.parametrize("fs", [TARGETED, DEFAULT], ids=["targeted", "default"])
@pytest.mark.parametrize("seed", range(6))
def test_late_events_within_the_lateness(fs: FeatureSet, seed: int) -> None:
    stream = _delayed(random_stream(seed, 50), 600 * S, random.Random(seed))
    native = NativeEngine(fs, allowed_lateness_s=600)
    python = OnlineEngine(fs, allowed_lateness_s=600)
    for item in stream:  # one by one: every late insertion is followed by in-order events
        got, want = native.process(item), python.process(item)
        if want is None:
            assert got is None
            continue
        assert got is not None and got.rejected == want.rejected is None
        assert got.values is not None and want.values is not None
        _assert_identical(got.values[None, :], want.values[None, :], fs)


@pytest.mark.parametrize("seed", range(4))
def test_rejections_beyond_the_lateness_match(seed: int) -> None:
    stream = _delayed(random_stream(seed, 60), 3 * 3600 * S, random.Random(seed))
    got, want = _both(TARGETED, stream, lateness_s=600)
    _assert_identical(got, want, TARGETED)
    python = OnlineEngine(TARGETED, allowed_lateness_s=600).process_batch(stream)
    assert python.late, "the stream should have rejected events"
    engine = NativeEngine(TARGETED, allowed_lateness_s=600)
    results = [engine.process(item) for item in stream]
    rejected = [r.seq for r in results if r is not None and r.rejected == LATE_EVENT]
    assert rejected == [python.seqs[i] for i in python.late]


def test_snapshot_and_restore_continue_identically(tmp_path: Path) -> None:
    stream = _delayed(random_stream(7, 80), 300 * S, random.Random(7))
    whole = NativeEngine(DEFAULT, allowed_lateness_s=600).process_batch(stream).values
    first = NativeEngine(DEFAULT, allowed_lateness_s=600)
    head = first.process_batch(stream[:50]).values
    first.snapshot(tmp_path / "state.snap")
    restored = NativeEngine.restore(tmp_path / "state.snap", DEFAULT)
    tail = restored.process_batch(stream[50:]).values
    _assert_identical(np.vstack([head, tail]), whole, DEFAULT)
    with pytest.raises(SnapshotError):
        NativeEngine.restore(tmp_path / "state.snap", TARGETED)
    (tmp_path / "python.snap").write_bytes(b"not a snapshot")
    with pytest.raises(SnapshotError):
        NativeEngine.restore(tmp_path / "python.snap", DEFAULT)


def test_expiry_bounds_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fraudwatch.features.online.native.state.CODES_SLACK", 0)
    fs = FeatureSet(
        "bounded",
        (
            WindowFeature(entity=("card",), agg=A.COUNT, window="10m"),
            WindowFeature(entity=("card",), agg=A.FIRST_SEEN, field="merchant_id", window="10m"),
            WindowFeature(entity=("merchant",), agg=A.FRAUD_RATE, window="10m"),
        ),
    )
    engine = NativeEngine(fs)
    base = next(item for item in random_stream(0, 1) if isinstance(item, TxRow))
    items: list[StreamItem] = []
    for seq in range(30_000):
        row = TxRow(**{**{f: getattr(base, f) for f in base.__slots__}, "seq": seq})
        row.ts, row.transaction_id = base.ts + seq * S, f"t{seq}"
        row.card, row.merchant = f"c{seq}", f"m{seq % 50}"  # every card is new: keys pile up
        items += [row, LabelRow(row.transaction_id, row.ts, seq % 7 == 0)]
    peak = 0
    for start in range(0, len(items), 2000):
        engine.process_batch(items[start : start + 2000])
        peak = max(peak, engine.stats()["key_ids"])
    stats = engine.stats()
    bound = 600 + 50 + 2 * 4096  # 10 minutes of cards, the merchants, sweep period and batch
    assert peak <= bound and stats["keys"] <= bound
    assert stats["events_held"] <= 2 * bound
    assert stats["transactions_held"] <= bound
    assert engine.state.keys[0].size <= bound  # ids are recycled, not only forgotten
    assert len(engine.state.codes.codes) <= 2 * bound + 1  # so are category codes
    assert engine.state.codes.next <= 2 * bound + 1


def test_native_matches_the_offline_engine(simulated: list[StreamItem]) -> None:
    online = NativeEngine(DEFAULT).process_batch(simulated).values
    txs = [item for item in simulated if isinstance(item, TxRow)]
    labels = [item for item in simulated if isinstance(item, LabelRow)]
    offline = OfflineEngine(DEFAULT).compute(tx_table(txs), label_table(labels))
    report = compare(DEFAULT, simulated, online, offline)
    assert report["rows"] == len(txs) and report["mismatches"] == 0


def test_the_factory_picks_the_engine_by_state_store() -> None:
    assert isinstance(online_engine(DEFAULT), NativeEngine)
    assert isinstance(online_engine(DEFAULT, state=InProcessState()), OnlineEngine)
    engine = online_engine(DEFAULT, allowed_lateness_s=5)
    assert isinstance(engine, NativeEngine) and engine.lateness_us == 5_000_000


def test_amounts_beyond_the_exact_range_are_refused() -> None:
    row = next(item for item in random_stream(0, 1) if isinstance(item, TxRow))
    row.amount = 2**43
    with pytest.raises(NativeRangeError):
        NativeEngine(DEFAULT).process(row)


def test_haversine_has_the_bits_of_cpython() -> None:
    rng = random.Random(1)
    for _ in range(20_000):
        lat1, lon1 = (
            rng.randrange(-90_000_000, 90_000_000),
            rng.randrange(-180_000_000, 180_000_000),
        )
        lat2 = lat1 + rng.randrange(-50_000, 50_000) if rng.random() < 0.5 else -lat1
        lon2 = lon1 + rng.randrange(-50_000, 50_000)
        args = (lat1 / 1e6, lon1 / 1e6, lat2 / 1e6, lon2 / 1e6)
        assert haversine_km(*args) == haversine_km_scalar(*args), args


def test_the_std_numerator_is_exact_and_rounded_like_cpython() -> None:
    rng = random.Random(2)
    for _ in range(20_000):
        value = rng.getrandbits(rng.choice([20, 53, 54, 64, 65, 90, 127, 128]))
        if rng.random() < 0.3:  # a tie: exactly half way between two doubles
            value = (value | 1 << 70) >> 60 << 60 | 1 << 59
        low, high = np.uint64(value & (2**64 - 1)), np.uint64(value >> 64)
        assert to_float(low, high) == float(value), value
    for _ in range(2_000):
        values = [rng.randrange(-(2**43) + 1, 2**43) for _ in range(rng.randrange(2, 40))]
        n, s, q = len(values), sum(values), sum(v * v for v in values)
        q_low, q_high = q & (2**64 - 1), (q >> 64) & (2**64 - 1)
        as_int64 = [x - 2**64 if x >= 2**63 else x for x in (q_low, q_high)]
        want = math.sqrt(float(n * q - s * s) / float(n * (n - 1)))
        assert sigma(n, s, *as_int64) == want


def test_the_kernel_cache_follows_every_source_of_the_package() -> None:
    from fraudwatch.features.online.native import cache, kernel, windows

    for function in (kernel.run_batch, windows.advance):
        locator = function._cache._impl.locator
        assert isinstance(locator, cache.SourceDigestLocator)
        assert locator.get_cache_path().endswith(f"native-{cache.DIGEST}")
    assert cache._digest() == cache.DIGEST  # any edit of a module gives another directory


def test_making_room_grows_the_state_and_changes_no_value(simulated: list[StreamItem]) -> None:
    fs = default_feature_set()
    half = len(simulated) // 2
    plain = NativeEngine(fs)
    want = np.vstack(
        [plain.process_batch(simulated[:half]).values, plain.process_batch(simulated[half:]).values]
    )
    roomy = NativeEngine(fs)
    first = roomy.process_batch(simulated[:half]).values
    before = sum(len(rows) for rows in roomy.state.ev_arrays)
    roomy.make_room(10_000)  # then that many events fit in every group without a growth:
    assert all(int(free[0]) >= 10_000 for free in roomy.state.free_arrays)
    assert sum(len(rows) for rows in roomy.state.ev_arrays) >= before + 10_000
    _assert_identical(np.vstack([first, roomy.process_batch(simulated[half:]).values]), want, fs)


def _sizes(engine: NativeEngine) -> tuple[list[int], list[int], int]:
    state = engine.state
    return (
        [len(rows) for rows in state.ev_arrays],
        [len(rows) for rows in state.key_arrays],
        len(state.labels.table),
    )


@pytest.mark.parametrize("settle", [True, False], ids=["prepared", "in-flight"])
def test_arrays_grown_ahead_change_no_value(simulated: list[StreamItem], settle: bool) -> None:
    """The event arrays and the label ring are swapped for larger copies a thread prepared once
    they are three quarters full, before a batch needs the room (the key rows once a batch
    needs them, as a sweep reads every key row); a batch that needs the room while a copy is
    still being prepared waits for it. Either way the values are those of one batch."""
    fs = default_feature_set()
    want = NativeEngine(fs).process_batch(simulated).values
    engine = NativeEngine(fs)
    made = (engine.state.grown_ahead, engine.state.grown_short)  # the new state's own arrays
    size = 40 if settle else 400
    parts, events, keys, ring = [], 0, 0, 0
    for start in range(0, len(simulated), size):
        before = _sizes(engine)
        parts.append(engine.process_batch(simulated[start : start + size]).values)
        after = _sizes(engine)
        events += sum(a != b for a, b in zip(before[0], after[0], strict=True))
        keys += sum(a != b for a, b in zip(before[1], after[1], strict=True))
        ring += before[2] != after[2]
        if settle:  # the larger arrays requested by this batch are ready for the next one
            engine.state.spares.settle()
    _assert_identical(np.vstack(parts), want, fs)
    assert events and keys and ring
    ahead, short = engine.state.grown_ahead - made[0], engine.state.grown_short - made[1]
    if settle:  # no batch waited for an event array or the ring
        assert (ahead, short) == (events + ring, keys)
    else:
        assert ahead + short == events + keys + ring


def test_the_label_ring_moves_to_a_larger_one_with_every_slot_in_place() -> None:
    book = LabelBook(groups=2, enabled=True, table=np.zeros((8, 5), dtype=np.int64))
    book.head, book.next = 13, 19  # six live slots, wrapping around the end of the ring
    for at in range(book.head, book.next):
        book.table[at & 7] = at
    book.move_to(np.zeros((16, 5), dtype=np.int64))
    assert [int(book.table[at & 15, 0]) for at in range(13, 19)] == list(range(13, 19))
    assert int(np.count_nonzero(book.table[:, 0])) == 6


def test_spares_are_prepared_once_and_only_large_enough_ones_are_taken() -> None:
    spares = Spares()
    spares.request("a", (1000, 3))
    spares.request("a", (5, 3))  # under way already: not asked again
    spares.request("b", (10, 4), np.array([1, 2, 3, 4], dtype=np.int64))
    spares.settle()
    a = spares.take("a", 1000, wait=False)
    assert a is not None and a.shape == (1000, 3) and not a.any()
    assert spares.take("a", 1, wait=True) is None  # taken
    b = spares.take("b", 11, wait=True)  # too small: dropped
    assert b is None and spares.take("b", 1, wait=True) is None


def test_a_snapshot_with_the_recent_transactions_in_one_dict_still_restores(
    tmp_path: Path,
) -> None:
    """Snapshots made before the label book kept its transaction ids in parts hold a dict."""
    import pickle

    stream = random_stream(11, 80)
    whole = NativeEngine(DEFAULT).process_batch(stream).values
    first = NativeEngine(DEFAULT)
    head = first.process_batch(stream[:50]).values
    first.snapshot(tmp_path / "state.snap")
    data = pickle.loads((tmp_path / "state.snap").read_bytes())
    book = data["python"][2]
    book.transactions = dict(book.transactions)
    assert book.transactions  # the head's transactions are remembered for their labels
    (tmp_path / "state.snap").write_bytes(pickle.dumps(data))
    restored = NativeEngine.restore(tmp_path / "state.snap", DEFAULT)
    assert not isinstance(restored.state.labels.transactions, dict)
    tail = restored.process_batch(stream[50:]).values
    _assert_identical(np.vstack([head, tail]), whole, DEFAULT)


def test_a_sweep_reads_an_eighth_of_the_key_rows_and_eight_read_them_all() -> None:
    """Scoring sweeps the key rows a part at a time (`SWEEP_PARTS`); one part drops only the
    silent keys of its rows, and a whole round of parts drops every silent key."""
    from fraudwatch.features.online.native.engine import SWEEP_PARTS

    fs = FeatureSet("cards", (WindowFeature(entity=("card",), agg=A.COUNT, window="10m"),))
    engine = NativeEngine(fs)
    base = next(item for item in random_stream(0, 1) if isinstance(item, TxRow))

    def row(seq: int, at: int, card: str) -> TxRow:
        fresh = TxRow(**{**{f: getattr(base, f) for f in base.__slots__}, "seq": seq})
        fresh.ts, fresh.transaction_id, fresh.card = base.ts + at * S, f"t{seq}", card
        return fresh

    engine.process_batch([row(i, i, f"c{i}") for i in range(400)])  # 400 cards, then silence
    engine.process_batch([row(400, 3600, "late")])  # an hour later: all 400 are past it
    held = engine.stats()["keys"]
    rows = len(engine.state.key_arrays[0])
    engine._sweep_part()
    after_one = engine.stats()["keys"]
    assert 0 < held - after_one < 400  # the silent keys of the first part of the rows only
    assert held - after_one <= rows // SWEEP_PARTS + 1
    for _ in range(SWEEP_PARTS - 1):
        engine._sweep_part()
    assert engine.stats()["keys"] == 1  # only the late card's key is left
