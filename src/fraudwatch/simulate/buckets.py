"""Grouped index lookups ("a random merchant of category k in city c") without Python loops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Buckets:
    """Members grouped by an integer key, stored CSR-style: members[start[k]:start[k]+count[k]]."""

    start: Ints
    count: Ints
    members: Ints

    @classmethod
    def group(cls, keys: Ints, n_keys: int, valid: npt.NDArray[np.bool_] | None = None) -> Buckets:
        """Group the positions of `keys` (ignoring rows where `valid` is False) by key."""
        positions = np.arange(keys.size, dtype=np.int64)
        if valid is not None:
            positions, keys = positions[valid], keys[valid]
        order = np.argsort(keys, kind="stable")
        count = np.bincount(keys, minlength=n_keys).astype(np.int64)
        start = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64)
        return cls(start=start, count=count, members=positions[order])

    def pick(self, key: Ints, u: npt.NDArray[np.float64]) -> Ints:
        """A uniform member of each row's bucket (u in [0, 1)); -1 for an empty bucket."""
        count = self.count[key]
        slot = self.start[key] + (u * count).astype(np.int64)
        found = self.members[np.minimum(slot, self.members.size - 1)] if self.members.size else slot
        return np.where(count > 0, found, -1)

    def pick_stable(self, key: Ints, salt: Ints) -> Ints:
        """The same member for the same (key, salt): a customer's regular shop of a kind."""
        count = self.count[key]
        mixed = (salt * 2654435761 + key * 40503) % np.maximum(count, 1)
        found = self.members[np.minimum(self.start[key] + mixed, max(self.members.size - 1, 0))]
        return np.where(count > 0, found, -1)


def cumulative(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise cumulative probabilities of a (rows, choices) weight matrix."""
    cum = np.cumsum(weights, axis=1)
    result: npt.NDArray[np.float64] = cum / cum[:, -1:]
    return result


def choose_rows(cum: npt.NDArray[np.float64], rows: Ints, u: npt.NDArray[np.float64]) -> Ints:
    """Sample a choice per event from its row's cumulative distribution (inverse CDF)."""
    out = np.empty(rows.size, dtype=np.int64)
    step = 1 << 18  # bounded temporary memory for (events x choices) comparisons
    last = cum.shape[1] - 1
    for lo in range(0, rows.size, step):
        part = cum[rows[lo : lo + step]]
        picked = (part < u[lo : lo + step, None]).sum(axis=1)
        out[lo : lo + step] = np.minimum(picked, last)
    return out


def choose(weights: npt.NDArray[np.float64], size: int, rng: np.random.Generator) -> Ints:
    """`size` draws from one discrete distribution."""
    p = np.asarray(weights, dtype=np.float64)
    result: Ints = rng.choice(p.size, size=size, p=p / p.sum()).astype(np.int64)
    return result
