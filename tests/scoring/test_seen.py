"""The bounded set of seen transaction ids: no false negatives within two generations, false
positives near the chosen rate, and ids older than two generations forgotten."""

from __future__ import annotations

import hashlib

import pytest

from fraudwatch.scoring.seen import SeenIds


def test_what_was_added_is_seen_and_the_rest_rarely() -> None:
    seen = SeenIds(capacity=50_000, false_positive=0.01)
    added = [f"tx-{i}" for i in range(50_000)]
    seen.add(added)
    assert all(seen.maybe(added))
    others = seen.maybe([f"other-{i}" for i in range(50_000)])
    assert sum(others) / len(others) < 0.02  # about the 1 % asked for
    assert seen.maybe([]) == []


def test_two_generations_are_remembered_and_older_ids_forgotten() -> None:
    seen = SeenIds(capacity=1_000, false_positive=0.001)
    first = [f"a-{i}" for i in range(1_000)]
    second = [f"b-{i}" for i in range(1_000)]
    third = [f"c-{i}" for i in range(1_000)]
    seen.add(first)
    seen.add(second)  # the first generation is full: a new one starts, the first is kept
    assert all(seen.maybe(first)) and all(seen.maybe(second))
    seen.add(third)  # the first generation is dropped
    assert all(seen.maybe(second)) and all(seen.maybe(third))
    assert sum(seen.maybe(first)) < 20
    assert seen.nbytes <= 2 * (1_000 * 15 // 8)  # two filters of ~14.4 bits per id


def test_one_call_larger_than_a_generation_keeps_its_newest_ids() -> None:
    seen = SeenIds(capacity=1_000)
    ids = [f"x-{i}" for i in range(3_500)]
    seen.add(ids)
    assert all(seen.maybe(ids[-1_000:]))


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        SeenIds(capacity=0)
    with pytest.raises(ValueError):
        SeenIds(false_positive=1.5)


def test_the_filter_holds_exactly_the_bits_of_double_hashing() -> None:
    """Against a plain-Python reference: bit k of an id is (h0 + k * (h1 | 1)) mod 2**64 mod
    size, h0 and h1 the halves of its 128-bit BLAKE2b digest (little-endian)."""
    seen = SeenIds(capacity=400, false_positive=0.01)
    ids = [f"ref-{i}" for i in range(300)] + ["", "é", "x" * 200]
    seen.add(ids)
    size = int(seen._bits)
    expected = bytearray(len(seen._filters[0]))
    for tid in ids:
        digest = hashlib.blake2b(tid.encode(), digest_size=16).digest()
        h0, h1 = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")
        for k in range(seen._probes):
            at = ((h0 + k * (h1 | 1)) % 2**64) % size
            expected[at >> 3] |= 1 << (at & 7)
    assert bytes(seen._filters[0]) == bytes(expected)
    assert seen.maybe(ids) == [True] * len(ids)
