"""Vectorised builders of Arrow columns: ids, card numbers, IPs, decimals, lookups.

The simulator never formats a string per event in Python on the Parquet path: fixed-width ids are
written straight into an Arrow buffer, variable strings are taken from small per-entity tables.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_U64 = npt.NDArray[np.uint64]


def mix64(values: npt.NDArray[np.int64] | _U64, key: int) -> _U64:
    """A bijective 64-bit scramble (splitmix64 finaliser): distinct inputs give distinct ids."""
    x = values.astype(np.uint64) + np.uint64((key * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def fixed_width_strings(chars: npt.NDArray[np.uint8]) -> pa.StringArray:
    """An (n, width) array of ASCII bytes as an Arrow string array, without a Python loop."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars).tobytes()
    array = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return array


def hex_strings(prefix: str, values: _U64, digits: int = 16) -> pa.StringArray:
    """`prefix` + the low `digits` hex digits of each value, e.g. `tx_00c3f1...`."""
    n = values.size
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    chars = np.empty((n, head.size + digits), dtype=np.uint8)
    chars[:, : head.size] = head
    shifts = np.arange(digits - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    nibbles = (values[:, None] >> shifts[None, :]) & np.uint64(15)
    chars[:, head.size :] = _HEX[nibbles.astype(np.intp)]
    return fixed_width_strings(chars)


def luhn_numbers(body: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Append the Luhn check digit to each row of digits (values 0-9)."""
    width = body.shape[1]
    # the rightmost body digit is doubled once the check digit sits to its right
    doubled = (np.arange(width)[::-1] % 2) == 0
    values = body.astype(np.int64)
    twice = values * 2
    values = np.where(doubled[None, :], np.where(twice > 9, twice - 9, twice), values)
    check = (10 - values.sum(axis=1) % 10) % 10
    return np.concatenate([body, check[:, None].astype(np.uint8)], axis=1)


def digit_strings(digits: npt.NDArray[np.uint8]) -> pa.StringArray:
    return fixed_width_strings(digits + np.uint8(48))


def dotted_quads(ips: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_]) -> pa.Array:
    """IPv4 integers as `a.b.c.d` strings (null where not valid), joined by Arrow compute."""
    octets = pa.array([str(i) for i in range(256)], type=pa.string())
    parts = [octets.take(pa.array((ips >> shift) & 255)) for shift in (24, 16, 8, 0)]
    joined = pc.binary_join_element_wise(*parts, ".")
    return pc.if_else(pa.array(valid), joined, pa.nulls(len(joined), pa.string()))


def take(table: pa.Array, index: npt.NDArray[np.int64] | npt.NDArray[np.int32]) -> pa.Array:
    """`table[index]`, with null wherever the index is negative."""
    mask = index < 0
    if mask.any():
        return table.take(pa.array(index, mask=mask))
    return table.take(pa.array(index))


def masked(values: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]) -> pa.Array:
    return pa.array(values, type=pa.float64(), mask=~valid)


def decimals(minor: npt.NDArray[np.int64], exponent: npt.NDArray[np.int64], scale: int) -> pa.Array:
    """Amounts in minor units as exact `decimal128(20, scale)` values (non-negative only)."""
    unscaled = minor * (10 ** (scale - exponent))
    words = np.zeros((minor.size, 2), dtype=np.int64)
    words[:, 0] = unscaled
    kind = pa.decimal128(20, scale)
    return pa.Array.from_buffers(kind, minor.size, [None, pa.py_buffer(words.tobytes())])


def timestamps(seconds: npt.NDArray[np.int64]) -> pa.Array:
    return pa.array(seconds * 1_000_000, type=pa.timestamp("us", tz="UTC"))
