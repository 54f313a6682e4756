"""Process-wide tuning shared by the long-running processes (the API, the stream worker, the
decision writer)."""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any, TypeVar, cast

K = TypeVar("K")
V = TypeVar("V")


def quiet_garbage_collector(young: int = 50_000, old: int = 100) -> None:
    """Call once start-up is done. What start-up built (the model, the rules, the features' key
    maps, the database metadata: millions of objects) is frozen out of the cyclic collector's
    scans, and young collections run every `young` allocations instead of 700. These processes
    allocate many short-lived, rarely cyclic objects per batch (decoded events, rows): with the
    defaults the collector ran every few hundred of them, rescanning the survivors each time (in
    the decision writer, two thirds of the cost of decoding a batch), and its full collections
    paused the API's event loop for 50-200 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, 50, old)


class ShardedDict(MutableMapping[K, V]):
    """A dict in `shards` parts by the keys' hashes, for maps of hundreds of thousands of keys
    inserted and removed all along (recent transactions, recent decisions). CPython rebuilds a
    dict's whole table when an insertion finds it full (of live keys or of the places of
    removed ones), on the thread that inserts: scoring the benchmark scenario's traffic in one
    process in groups of 10, as the API server does, that stalled a group for 38-45 ms (an
    ordered dict of 350,000 decisions) and 32-99 ms (a dict of about 500,000 transaction ids;
    docs/benchmarks.md). Here only one
    part, a 64th of the keys, is rebuilt at a time. With `limit`, each part keeps at most
    `limit / shards` keys and drops its oldest insertion beyond that: about the newest `limit`
    keys are kept overall. Iteration goes part by part (not in insertion order)."""

    __slots__ = ("_cap", "_mask", "_parts")

    def __init__(self, shards: int = 64, limit: int | None = None) -> None:
        if shards < 1 or shards & (shards - 1):
            raise ValueError("shards must be a power of two")
        self._mask = shards - 1
        self._cap = None if limit is None else max(1, -(-limit // shards))
        self._parts: list[dict[K, V]] = [
            OrderedDict() if limit is not None else {} for _ in range(shards)
        ]

    def __getitem__(self, key: K) -> V:
        return self._parts[hash(key) & self._mask][key]

    def get(self, key: K, default: Any = None) -> Any:
        return self._parts[hash(key) & self._mask].get(key, default)

    def __setitem__(self, key: K, value: V) -> None:
        part = self._parts[hash(key) & self._mask]
        part[key] = value
        if self._cap is not None and len(part) > self._cap:
            cast("OrderedDict[K, V]", part).popitem(last=False)

    def __delitem__(self, key: K) -> None:
        del self._parts[hash(key) & self._mask][key]

    def __contains__(self, key: object) -> bool:
        return key in self._parts[hash(key) & self._mask]

    def __iter__(self) -> Iterator[K]:
        for part in self._parts:
            yield from part

    def __len__(self) -> int:
        return sum(map(len, self._parts))
