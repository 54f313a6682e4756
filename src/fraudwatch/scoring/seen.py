"""The transaction ids a scorer has replayed or decided, in bounded memory.

Idempotency needs to know, for a transaction not among the decisions kept in memory, whether it
may have been decided before (then its stored decision is read) or is surely new (then no
database read: the common case). A set of every id grew by about 100 bytes per transaction
forever: 30 GB a day at 4,000 transactions/s.

`SeenIds` is two Bloom filters, generations of `capacity` ids each: ids are added to the current
one, and when it holds `capacity` the older is dropped and a new one started. "Maybe seen" can be
wrong (a false positive, at rate `false_positive` per filter: one needless store read, which
finds nothing) but "not seen" is exact for the ids of the last `capacity` to `2 * capacity`
additions. An id older than that is forgotten, as a restart forgets ids older than its warm-up
window: a retry of it is scored again (the store keeps its first decision).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


class SeenIds:
    def __init__(self, capacity: int = 20_000_000, false_positive: float = 0.001) -> None:
        if capacity < 1 or not 0 < false_positive < 1:
            raise ValueError("capacity must be positive and false_positive in (0, 1)")
        self.capacity = capacity
        bits = math.ceil(-capacity * math.log(false_positive) / math.log(2) ** 2)
        self._bits = np.uint64(bits)
        self._probes = max(1, round(bits / capacity * math.log(2)))
        self._steps = np.arange(self._probes, dtype=np.uint64)
        self._filters = [np.zeros((bits + 7) // 8, dtype=np.uint8)]  # newest first, at most 2
        self._added = 0  # ids added to the current filter

    @property
    def nbytes(self) -> int:
        return sum(f.nbytes for f in self._filters)

    def _positions(self, ids: Sequence[str]) -> npt.NDArray[np.uint64]:
        """Bit positions, one row of `probes` per id (double hashing of a 128-bit digest)."""
        digests = b"".join(hashlib.blake2b(i.encode(), digest_size=16).digest() for i in ids)
        halves = np.frombuffer(digests, dtype=np.uint64).reshape(len(ids), 2)
        mixed = halves[:, :1] + self._steps * (halves[:, 1:] | np.uint64(1))  # wraps mod 2**64
        positions: npt.NDArray[np.uint64] = mixed % self._bits
        return positions

    def add(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), self.capacity):
            chunk = ids[start : start + self.capacity]
            if self._added + len(chunk) > self.capacity:
                self._filters = [np.zeros_like(self._filters[0]), self._filters[0]]
                self._added = 0
            if chunk:
                positions = self._positions(chunk).ravel()
                np.bitwise_or.at(
                    self._filters[0],
                    (positions >> np.uint64(3)).astype(np.intp),
                    (np.uint8(1) << (positions & np.uint64(7)).astype(np.uint8)),
                )
                self._added += len(chunk)

    def maybe(self, ids: Sequence[str]) -> list[bool]:
        """For each id: False if it was surely not added (within the last two generations)."""
        if not ids:
            return []
        positions = self._positions(ids)
        index = (positions >> np.uint64(3)).astype(np.intp)
        shift = (positions & np.uint64(7)).astype(np.uint8)
        found = np.zeros(len(ids), dtype=np.bool_)
        for bits in self._filters:
            found |= (((bits[index] >> shift) & 1) == 1).all(axis=1)
        result: list[bool] = found.tolist()
        return result
