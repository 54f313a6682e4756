# mypy: disable-error-code="no-untyped-def"
"""Value counts of every (key, window, field) in one open-addressing hash table of int64 rows.

A row is (slot key, value, count): the slot key is key id * slots + slot (see `layout`), count
0 marks an empty row. Linear probing with backward-shift deletion (no tombstones), at most half
full: `reserve` grows it before a batch that could fill it. About 3x faster than a numba typed
dict here, and one array to snapshot.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

Table = npt.NDArray[np.int64]
_MIX_A = np.uint64(0x9E3779B97F4A7C15)
_MIX_B = np.uint64(0xC2B2AE3D27D4EB4F)
USED = 11  # the index in the kernel's globals holding the number of rows in use


@numba.njit(cache=True, inline="always")
def _home(a, b, mask):
    h = np.uint64(a) * _MIX_A ^ np.uint64(b) * _MIX_B
    return np.int64(h ^ (h >> np.uint64(29))) & mask


@numba.njit(cache=True, inline="always")
def _find(table, a, b):
    """The row holding (a, b), or the empty row where it would go."""
    mask = table.shape[0] - 1
    i = _home(a, b, mask)
    while table[i, 2] != 0 and (table[i, 0] != a or table[i, 1] != b):
        i = (i + 1) & mask
    return i


@numba.njit(cache=True, inline="always")
def count_of(table, a, b):
    return table[_find(table, a, b), 2]


@numba.njit(cache=True, inline="always")
def bump(table, a, b, delta, gl):
    """count(a, b) += delta (rows reaching 0 are removed); returns the new count."""
    i = _find(table, a, b)
    count = table[i, 2] + delta
    if table[i, 2] == 0:
        table[i, 0], table[i, 1] = a, b
        gl[USED] += 1
    if count != 0:
        table[i, 2] = count
        return count
    gl[USED] -= 1
    mask = table.shape[0] - 1
    j = i
    while True:  # backward-shift deletion
        table[i, 2] = 0
        while True:
            j = (j + 1) & mask
            if table[j, 2] == 0:
                return 0
            k = _home(table[j, 0], table[j, 1], mask)
            inside = (i < k <= j) if i <= j else (k > i or k <= j)
            if not inside:
                break
        table[i, 0], table[i, 1], table[i, 2] = table[j, 0], table[j, 1], table[j, 2]
        i = j


@numba.njit(cache=True)
def rehash(table, size):
    """The same counts in a table of `size` rows (a power of two)."""
    out = np.zeros((size, 3), dtype=np.int64)
    mask = size - 1
    for row in range(table.shape[0]):
        if table[row, 2] != 0:
            i = _home(table[row, 0], table[row, 1], mask)
            while out[i, 2] != 0:
                i = (i + 1) & mask
            out[i, 0], out[i, 1], out[i, 2] = table[row, 0], table[row, 1], table[row, 2]
    return out


def reserve(table: Table, used: int, extra: int) -> Table:
    """`table`, or a larger copy, with room for `extra` more rows at most half full."""
    size = len(table)
    while 2 * (used + extra) > size:
        size *= 2
    return table if size == len(table) else rehash(table, size)
