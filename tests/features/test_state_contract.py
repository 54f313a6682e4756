"""One contract for every online state backend (`InProcessState`, `RedisState`): storage of real
engine states, the engine on each backend against the oracle; and for Redis, workers sharing one
namespace: alternating over one stream they equal one in-process engine (labels and lateness
included), racing on the same keys they lose no update, compaction keeps the values."""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np
import pytest

from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.online import InProcessState, OnlineEngine, StateStore
from fraudwatch.features.online.native import NativeEngine
from fraudwatch.features.online.redis_state import (
    Batch,
    NamespaceMismatch,
    RedisState,
    decode_state,
    encode_state,
)
from fraudwatch.features.online.state import StateConflict, StateKey
from fraudwatch.features.online.windows import KeyState
from fraudwatch.features.reference import reference_features
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow

from .strategies import T0, S, random_stream, targeted_feature_set
from .test_online import _shuffle_within

DEFAULT = default_feature_set()
TARGETED = targeted_feature_set()
TTL_S = 3600

MakeStore = Callable[[], StateStore]


@pytest.fixture(params=["in_process", "redis"])
def make_store(request: pytest.FixtureRequest) -> Iterator[MakeStore]:
    """A factory of fresh, empty stores of one backend (Redis: a new namespace each)."""
    if request.param == "in_process":
        yield InProcessState
        return
    url: str = request.getfixturevalue("redis_url")
    made: list[RedisState] = []

    def make() -> StateStore:
        made.append(RedisState(url, namespace=f"test-{uuid.uuid4().hex}", ttl_s=TTL_S))
        return made[-1]

    yield make
    for store in made:
        store.clear()


def _engine_states(fs: FeatureSet = TARGETED, seed: int = 3) -> dict[StateKey, KeyState]:
    engine = OnlineEngine(fs)
    engine.process_batch(random_stream(seed, 45))
    return dict(engine.store.items())


def _same_state(a: KeyState, b: KeyState) -> bool:
    fields = ("events", "base", "kept", "before", "acc", "frauds", "newest")
    return all(getattr(a, name) == getattr(b, name) for name in fields)


def test_real_states_round_trip(make_store: MakeStore) -> None:
    states = _engine_states()
    assert any(isinstance(key[1], tuple) for key in states)  # pair keys
    assert any(state.frauds for state in states.values())
    store = make_store()
    store.save(states)
    loaded = store.load([*states, (0, "no such card"), (99, ("a", "b"))])
    assert set(loaded) == set(states)  # missing keys are absent
    assert all(_same_state(loaded[key], states[key]) for key in states)
    assert len(store) == len(states)
    listed = dict(store.items())
    assert set(listed) == set(states)
    assert all(_same_state(listed[key], states[key]) for key in states)


def test_save_replaces_and_expire_never_loses_recent_states(make_store: MakeStore) -> None:
    states = _engine_states()
    store = make_store()
    store.save(states)
    key = next(iter(states))
    replaced = KeyState(list(states[key].acc), states[key].newest + 1)
    store.load([key])
    store.save({key: replaced})
    assert _same_state(store.load([key])[key], replaced)
    newest = max(state.newest for state in states.values())
    assert store.expire(min(state.newest for state in states.values())) == 0
    assert store.expire(newest + 2) in (0, len(states))  # Redis: expiry is the TTL's job
    assert len(store) in (0, len(states))


def test_huge_exact_sums_and_queues_survive(make_store: MakeStore) -> None:
    key, state = next(iter(_engine_states().items()))
    state.acc = [*state.acc, 10**40, -(10**30), 2**64 - 1, -(2**63)]
    store = make_store()
    store.save({key: state})
    assert _same_state(store.load([key])[key], state)


def _redis(url: str, namespace: str | None = None, **options: Any) -> RedisState:
    return RedisState(
        url, namespace=namespace or f"test-{uuid.uuid4().hex}", ttl_s=TTL_S, **options
    )


def test_redis_buckets_have_the_ttl_and_logs_decode_strictly(redis_url: str) -> None:
    store = _redis(redis_url, buckets=4)
    try:
        states = _engine_states()
        store.save(states)
        for name in store.names[1:]:
            assert 0 < store.client.ttl(name) <= TTL_S
        key = next(iter(states))
        assert decode_state(encode_state(key, states[key]))[0] == key
        store.client.set(store.names[1], b"\x00\x00\x00\x04\x93\x01\x02\x03" + b"t" * 8)
        with pytest.raises(msgspec.DecodeError):  # ValidationError included
            _redis(redis_url, store.namespace, buckets=4).fetch()
        store.client.set(store.names[1], b"\x00\x00\x00\xff\x93")  # truncated
        with pytest.raises(msgspec.DecodeError, match="truncated"):
            _redis(redis_url, store.namespace, buckets=4).fetch()
    finally:
        store.clear()


def test_a_stale_replica_never_commits(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    one, two = _redis(redis_url, namespace), _redis(redis_url, namespace)
    try:
        states = _engine_states()
        key = next(iter(states))
        one.load([key])
        one.save({key: states[key]})
        newer = KeyState(list(states[key].acc), states[key].newest + 5)
        two.load([key])
        two.save({key: newer})  # another worker replaces it
        assert _same_state(one.load([key])[key], newer)  # `one` sees it
        one.save({key: states[key]})  # based on the fresh load: accepted
        assert _same_state(two.load([key])[key], states[key])
        two.save({key: newer})
        with pytest.raises(StateConflict):  # `one` did not fetch `two`'s write
            one.save({key: states[key]})
        assert _same_state(_redis(redis_url, namespace).load([key])[key], newer)
    finally:
        one.clear()


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _run(
    engine: OnlineEngine | NativeEngine, stream: list[StreamItem], size: int
) -> tuple[Any, list[int]]:
    batches = [engine.process_batch(stream[i : i + size]) for i in range(0, len(stream), size)]
    return np.vstack([b.values for b in batches]), [s for b in batches for s in b.seqs]


@pytest.mark.parametrize("native", [False, True], ids=["python", "native"])
@pytest.mark.parametrize("size", [1, 7, 0], ids=["1", "7", "whole"])
@pytest.mark.parametrize("seed", range(3))
def test_engine_on_the_backend_equals_the_oracle(
    make_store: MakeStore, seed: int, size: int, native: bool
) -> None:
    stream = random_stream(seed, 45)
    want = reference_features(DEFAULT, stream)
    engine = NativeEngine(DEFAULT) if native else OnlineEngine(DEFAULT, state=make_store())
    got, seqs = _run(engine, stream, size or len(stream))
    for seq, row in zip(seqs, got, strict=True):
        wrong = [
            (n, v, want[seq][n])
            for n, v in zip(DEFAULT.names, row, strict=True)
            if not _same(v, want[seq][n])
        ]
        assert not wrong, f"seq {seq}: {wrong[:5]}"


def test_single_events_and_snapshots_work_on_the_backend(
    make_store: MakeStore, tmp_path: Any
) -> None:
    stream = random_stream(5, 40)
    want = OnlineEngine(TARGETED).process_batch(stream).values
    engine = OnlineEngine(TARGETED, state=make_store())
    rows = [r.values for r in map(engine.process, stream[:20]) if r is not None]
    engine.snapshot(tmp_path / "state.snap")
    restored = OnlineEngine.restore(tmp_path / "state.snap", TARGETED, state=make_store())
    rows += list(restored.process_batch(stream[20:]).values)
    np.testing.assert_array_equal(np.array(rows), want)


def test_an_in_process_snapshot_continues_on_redis(redis_url: str, tmp_path: Any) -> None:
    stream = random_stream(6, 40)
    want = OnlineEngine(TARGETED).process_batch(stream).values
    first = OnlineEngine(TARGETED)
    head = first.process_batch(stream[:25]).values
    first.snapshot(tmp_path / "state.snap")
    store = _redis(redis_url)
    try:
        restored = OnlineEngine.restore(tmp_path / "state.snap", TARGETED, state=store)
        tail = restored.process_batch(stream[25:]).values
        np.testing.assert_array_equal(np.vstack([head, tail]), want)
    finally:
        store.clear()


# --- workers sharing one namespace ----------------------------------------------------------------

TIGHT = {"buckets": 3, "compact_bytes": 256}  # compaction at almost every write


def _workers(url: str, fs: FeatureSet, count: int, lateness_s: int, tight: bool) -> list[Any]:
    namespace = f"test-{uuid.uuid4().hex}"
    engines = []
    for _ in range(count):
        store = _redis(url, namespace, **(TIGHT if tight else {}))
        engine = OnlineEngine(fs, allowed_lateness_s=lateness_s, state=store)
        if tight:
            store.compact_after_us = 0
        engines.append(engine)
    return engines


def _alternate(engines: list[OnlineEngine], stream: list[StreamItem], size: int) -> Any:
    batches = range(0, len(stream), size)
    out = [
        engines[n % len(engines)].process_batch(stream[i : i + size]) for n, i in enumerate(batches)
    ]
    return np.vstack([b.values for b in out])


@pytest.mark.parametrize("tight", [False, True], ids=["default", "compacting"])
@pytest.mark.parametrize("late", [False, True], ids=["in_order", "late"])
@pytest.mark.parametrize("fs", [TARGETED, DEFAULT], ids=["targeted", "default"])
@pytest.mark.parametrize(("workers", "size"), [(2, 1), (2, 7), (3, 4)])
def test_alternating_workers_equal_one_engine(
    redis_url: str, fs: FeatureSet, workers: int, size: int, late: bool, tight: bool
) -> None:
    """Disjoint consecutive batches of one stream, round robin over workers sharing a namespace:
    every feature (label-aware ones and late events included) is what one in-process engine
    gives on the whole stream."""
    lateness = 600 if late else 0
    for seed in range(3):
        stream = random_stream(seed, 60)
        if late:
            stream = _shuffle_within(stream, 600 * S, random.Random(seed))
        want = OnlineEngine(fs, allowed_lateness_s=lateness).process_batch(stream).values
        engines = _workers(redis_url, fs, workers, lateness, tight)
        try:
            got = _alternate(engines, stream, size)
        finally:
            engines[0].store.clear()
        np.testing.assert_array_equal(got, want)


def _tx(seq: int, ts: int, merchant: str, card: str) -> TxRow:
    base = next(i for i in random_stream(0, 1) if isinstance(i, TxRow))
    row = TxRow(**{name: getattr(base, name) for name in base.__slots__})
    row.seq, row.ts, row.transaction_id, row.merchant, row.card = seq, ts, f"t{seq}", merchant, card
    return row


def test_a_label_reaches_the_keys_of_a_transaction_another_worker_saw(redis_url: str) -> None:
    """A sees t0 and t2, B sees the fraud label of t0 and t1 (same merchant), C sees t3: both
    later transactions count t0 as fraud, as one engine would; a label that arrives before its
    transaction (t4, at B) marks it when C processes it."""
    m = "m-shared"
    t0, t1, t2, t3 = (_tx(i, T0 + i * 660 * S, m, f"card{i}") for i in range(4))
    early = LabelRow("t4", T0 + 2300 * S, True)
    t4 = _tx(4, T0 + 2640 * S, m, "card4")
    t5 = _tx(5, T0 + 3300 * S, m, "card5")
    stream: list[list[StreamItem]] = [
        [t0],
        [LabelRow("t0", T0 + 30 * S, True), t1],
        [t2],
        [t3, early],
        [t4],
        [t5],
    ]
    a, b, c = _workers(redis_url, TARGETED, 3, 0, False)
    try:
        rows = [
            w.process_batch(batch).values
            for w, batch in zip([a, b, a, c, c, b], stream, strict=True)
        ]
    finally:
        a.store.clear()
    want = OnlineEngine(TARGETED).process_batch([i for batch in stream for i in batch]).values
    np.testing.assert_array_equal(np.vstack(rows), want)
    column = TARGETED.names.index("fraud_count_1h_by_merchant_delay_10m")
    assert [r[0, column] for r in rows[1:]] == [1.0, 1.0, 1.0, 1.0, 2.0]  # t0, then t4 too


class _Interleaved(RedisState):
    """Runs `before_first_commit` once, between this store's first fetch and its commit."""

    def __init__(self, url: str, namespace: str, before_first_commit: Callable[[], None]) -> None:
        super().__init__(url, namespace=namespace, ttl_s=TTL_S)
        self.hook: Callable[[], None] | None = before_first_commit
        self.conflicts = 0

    def commit(self, batch: Batch) -> None:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        try:
            super().commit(batch)
        except StateConflict:
            self.conflicts += 1
            raise


def test_a_conflicting_worker_retries_and_nothing_counts_twice(redis_url: str) -> None:
    """Worker A commits batch 1 between worker B's fetch and commit of batch 2 (same cards and
    merchants, with labels): B's commit is refused, B refetches and recomputes, and the shared
    states and B's features equal one engine processing batch 1 then batch 2."""
    stream = random_stream(11, 60)
    first, second = stream[:40], stream[40:]
    namespace = f"test-{uuid.uuid4().hex}"
    a = OnlineEngine(DEFAULT, state=_redis(redis_url, namespace))

    def worker_a() -> None:
        a.process_batch(first)

    b_store = _Interleaved(redis_url, namespace, worker_a)
    b = OnlineEngine(DEFAULT, state=b_store)
    try:
        got = b.process_batch(second).values
        assert b_store.conflicts == 1
        single = OnlineEngine(DEFAULT)
        single.process_batch(first)
        np.testing.assert_array_equal(got, single.process_batch(second).values)
        _assert_shared_equals(redis_url, namespace, single)
        assert b.events == sum(isinstance(i, TxRow) for i in second)  # counted once
    finally:
        b_store.clear()


def _assert_shared_equals(url: str, namespace: str, single: OnlineEngine) -> None:
    """A fresh worker's replica holds exactly the single engine's states."""
    lateness_s = single.lateness_us // 1_000_000  # replays compact as the writers did
    fresh = OnlineEngine(
        single.feature_set, allowed_lateness_s=lateness_s, state=_redis(url, namespace)
    )
    shared = dict(fresh.store.items())
    want = dict(single.store.items())
    assert set(shared) == set(want)
    fields = ("events", "base", "kept", "before", "acc", "frauds", "newest")
    wrong = [
        (key, name)
        for key in want
        for name in fields
        if getattr(shared[key], name) != getattr(want[key], name)
    ]
    assert not wrong, wrong[:5]


def test_workers_racing_on_the_same_keys_lose_no_update(redis_url: str) -> None:
    """Two threads, each with its own engine and connection, process their own batches (the
    same cards and merchants, with labels) as fast as they can. Whatever the interleaving, the
    committed batches in commit order, run through one in-process engine, give every feature
    each worker returned and exactly the shared states."""
    stream = random_stream(21, 120)
    batches = [stream[i : i + 3] for i in range(0, len(stream), 3)]
    namespace = f"test-{uuid.uuid4().hex}"
    order: list[int] = []  # batch numbers in commit order
    conflicts: list[int] = []
    got: dict[int, Any] = {}
    lock = threading.Lock()

    class Recording(RedisState):
        current = -1

        def commit(self, batch: Batch) -> None:
            with lock:  # the commit and its place in the order, atomically
                try:
                    super().commit(batch)
                except StateConflict:
                    conflicts.append(self.current)
                    raise
                order.append(self.current)

    def work(numbers: list[int]) -> None:
        store = Recording(redis_url, namespace=namespace, ttl_s=TTL_S)
        engine = OnlineEngine(TARGETED, allowed_lateness_s=10**6, state=store)
        for number in numbers:
            store.current = number
            for _ in range(100):  # a batch refused MAX_ATTEMPTS times is rolled back: again
                try:
                    got[number] = engine.process_batch(batches[number]).values
                    break
                except StateConflict:
                    continue

    threads = [
        threading.Thread(target=work, args=(list(range(k, len(batches), 2)),)) for k in (0, 1)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert sorted(order) == list(range(len(batches)))  # every batch committed once
        assert conflicts  # the workers did race (about half the batches, here)
        single = OnlineEngine(TARGETED, allowed_lateness_s=10**6)
        for number in order:
            np.testing.assert_array_equal(got[number], single.process_batch(batches[number]).values)
        _assert_shared_equals(redis_url, namespace, single)
    finally:
        _redis(redis_url, namespace).clear()


def test_a_store_that_always_conflicts_gives_up_and_rolls_back(redis_url: str) -> None:
    class Refusing(RedisState):
        def commit(self, batch: Batch) -> None:
            raise StateConflict("always")

    stream = random_stream(2, 30)
    store = Refusing(redis_url, namespace=f"test-{uuid.uuid4().hex}", ttl_s=TTL_S)
    engine = OnlineEngine(TARGETED, state=store)
    with pytest.raises(StateConflict):
        engine.process_batch(stream)
    assert engine.events == 0 and not engine.transactions
    ids = {item.transaction_id for item in stream}
    assert not ids & set(engine.fraud_since) and not engine.pending
    assert engine.newest == (-(2**62), -1)


def test_round_trips_and_bytes_per_batch(redis_url: str) -> None:
    """One fetch and one commit per batch; a worker alone receives nothing back."""
    store = _redis(redis_url)
    try:
        engine = OnlineEngine(DEFAULT, state=store)
        stream = random_stream(4, 60)
        for i in range(0, len(stream), 10):
            engine.process_batch(stream[i : i + 10])
        assert store.round_trips == 2 * len(range(0, len(stream), 10))
        assert store.bytes_received == 0 and store.bytes_sent > 0
    finally:
        store.clear()


def test_a_namespace_serves_one_feature_set_and_lateness(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    first = OnlineEngine(TARGETED, state=_redis(redis_url, namespace))
    try:
        first.process_batch(random_stream(1, 5))
        other = OnlineEngine(TARGETED, allowed_lateness_s=60, state=_redis(redis_url, namespace))
        with pytest.raises(NamespaceMismatch, match="one feature set and lateness"):
            other.process_batch(random_stream(1, 5))
        same = OnlineEngine(TARGETED, state=_redis(redis_url, namespace))
        same.process_batch(random_stream(2, 5))
    finally:
        first.store.clear()  # type: ignore[attr-defined]
