"""One contract for every online state backend (`InProcessState`, `RedisState`): storage of real
engine states, the engine on each backend against the oracle, and conflicts between workers
sharing one Redis namespace."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec
import numpy as np
import pytest

from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.online import InProcessState, OnlineEngine, StateStore
from fraudwatch.features.online.native import NativeEngine
from fraudwatch.features.online.redis_state import RedisState, decode_state, encode_state
from fraudwatch.features.online.state import StateConflict, StateKey
from fraudwatch.features.online.windows import KeyState
from fraudwatch.features.reference import reference_features
from fraudwatch.features.rows import StreamItem, TxRow

from .strategies import random_stream, targeted_feature_set

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


def test_redis_keys_have_the_ttl_and_values_decode_strictly(redis_url: str) -> None:
    store = RedisState(redis_url, namespace=f"test-{uuid.uuid4().hex}", ttl_s=TTL_S)
    try:
        states = _engine_states()
        store.save(states)
        for key in list(states)[:5]:
            assert 0 < store.client.ttl(store.redis_key(key)) <= TTL_S
        key = next(iter(states))
        assert decode_state(encode_state(key, states[key]))[0] == key
        store.client.set(store.redis_key(key), b"x" * 16 + b"\x93\x01\x02\x03")
        with pytest.raises(msgspec.DecodeError):  # ValidationError included
            store.load([key])
        store.client.set(store.redis_key(key), b"x" * 16 + encode_state((7, "other"), states[key]))
        with pytest.raises(msgspec.DecodeError, match="belongs to"):
            store.load([key])
    finally:
        store.clear()


@pytest.mark.parametrize("cache_size", [0, 100])
def test_a_stale_cached_copy_is_never_used(redis_url: str, cache_size: int) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    one, two = (
        RedisState(redis_url, namespace=namespace, ttl_s=TTL_S, cache_size=cache_size)
        for _ in range(2)
    )
    try:
        states = _engine_states()
        key = next(iter(states))
        one.load([key])
        one.save({key: states[key]})  # `one` holds a copy
        newer = KeyState(list(states[key].acc), states[key].newest + 5)
        two.load([key])
        two.save({key: newer})  # another worker replaces it
        assert _same_state(one.load([key])[key], newer)
        one.save({key: states[key]})  # based on the fresh load: accepted
        assert _same_state(two.load([key])[key], states[key])
        one.load([key])
        two.save({key: newer})  # `two` saves again without loading: blind write
        with pytest.raises(StateConflict):
            one.save({key: states[key]})
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


class _Interleaved(RedisState):
    """Runs `before_first_save` once, between this store's first load and its save."""

    def __init__(self, url: str, namespace: str, before_first_save: Callable[[], None]) -> None:
        super().__init__(url, namespace=namespace, ttl_s=TTL_S)
        self.hook: Callable[[], None] | None = before_first_save
        self.conflicts = 0

    def save(self, states: Mapping[StateKey, KeyState]) -> None:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        try:
            super().save(states)
        except StateConflict:
            self.conflicts += 1
            raise


def test_a_conflicting_worker_retries_and_nothing_counts_twice(redis_url: str) -> None:
    """Worker A saves batch 1 between worker B's load and save of batch 2 (same cards and
    merchants): B's save is refused, B reloads and recomputes, and the shared states and B's
    features equal one engine processing batch 1 then batch 2. (Label bookkeeping is per worker,
    so the streams carry no labels: B could not know A's transactions.)"""
    rows: list[StreamItem] = [i for i in random_stream(11, 60) if isinstance(i, TxRow)]
    first, second = rows[:30], rows[30:]
    namespace = f"test-{uuid.uuid4().hex}"
    a = OnlineEngine(DEFAULT, state=RedisState(redis_url, namespace=namespace, ttl_s=TTL_S))

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
        want = dict(single.store.items())
        shared = dict(b_store.items())
        assert set(shared) == set(want)
        assert all(_same_state(shared[key], want[key]) for key in want)
        assert b.events == len(second)  # B's bookkeeping counts its batch once
        assert len(b.recent) == len({tx_id for _, tx_id in b.recent}) == len(b.transactions)
    finally:
        b_store.clear()


def test_a_store_that_always_conflicts_gives_up_and_rolls_back(redis_url: str) -> None:
    class Refusing(RedisState):
        def save(self, states: Mapping[StateKey, KeyState]) -> None:
            raise StateConflict("always")

    stream = random_stream(2, 30)
    engine = OnlineEngine(TARGETED, state=Refusing(redis_url, namespace="never", ttl_s=TTL_S))
    with pytest.raises(StateConflict):
        engine.process_batch(stream)
    assert engine.events == 0 and not engine.transactions and not engine.recent
    assert not engine.fraud_since and not engine.pending
