"""`runtime.ShardedDict`: a dict in parts, and with a limit, each part keeping its newest."""

from __future__ import annotations

import pickle

import pytest

from fraudwatch.runtime import ShardedDict


def test_it_behaves_as_a_dict() -> None:
    parts: ShardedDict[str, int] = ShardedDict(shards=8)
    plain: dict[str, int] = {}
    for i in range(2000):
        for target in (parts, plain):
            target[f"tx-{i}"] = i
            if i % 3 == 0:
                target.pop(f"tx-{i // 2}", None)
    assert len(parts) == len(plain) and dict(parts) == plain
    assert parts.get("tx-1999") == 1999 and parts.get("nope") is None and "nope" not in parts
    assert parts["tx-1999"] == 1999 and "tx-1999" in parts
    del parts["tx-1999"]
    with pytest.raises(KeyError):
        parts["tx-1999"]
    parts.update({"a": 1, "b": 2})
    assert (parts["a"], parts["b"]) == (1, 2)
    assert dict(pickle.loads(pickle.dumps(parts))) == dict(parts)
    with pytest.raises(ValueError, match="power of two"):
        ShardedDict(shards=6)


def test_with_a_limit_each_part_drops_its_oldest_keys() -> None:
    recent: ShardedDict[str, int] = ShardedDict(shards=4, limit=400)
    for i in range(10_000):
        recent[f"tx-{i}"] = i
    assert len(recent) == 400  # 100 per part: the keys spread evenly enough to fill each
    kept = sorted(recent.values())
    assert kept[0] > 9000  # only newer ones: each part holds its last 100
    recent["tx-9999"] = -1  # an update keeps the key where it was
    assert len(recent) == 400 and recent["tx-9999"] == -1
