"""A batch of rows as the kernel's columns: integers, category codes and key ids.

Category values (of every field: a value means the same in all fields, so the country
mismatch compares codes) get int codes from one dict, None being `NULL`; numeric fields keep
their integers. Each group maps its entity keys to small ids (one dict per group, None → -1);
ids of expired keys are recycled, so the kernel's per-key arrays stay as large as the live keys.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from operator import attrgetter
from typing import cast

import numpy as np
import numpy.typing as npt

from fraudwatch.features.online.native.layout import NUMERIC
from fraudwatch.features.online.native.windows import NULL
from fraudwatch.features.rows import TxRow

Ints = npt.NDArray[np.int64]
SMALL = 32
"""Batches of at most this many transactions make their keys in plain Python: numpy's cost per
call (2-20 µs an operation) outweighs the work below that. Both make the same keys (tested)."""
_NULL = int(NULL)  # compared with Python ints (comparing them with a numpy scalar is slow)
_INT64 = 2**63


class Codes:
    """str -> int code, shared by every categorical field (None -> NULL). `keep` forgets the
    values no state refers to any more and hands their codes out again."""

    def __init__(self) -> None:
        self.codes: dict[str | None, int] = {None: NULL}
        self.free: list[int] = []  # codes of forgotten values
        self.next = 0  # codes below are in use or free
        self.kept = 0  # values kept by the last `keep`

    def of(self, values: Sequence[str | None]) -> list[int]:
        codes = self.codes
        out: list[int | None] = list(map(codes.get, values))
        if None in out:
            for at, code in enumerate(out):
                if code is None:
                    out[at] = self.one(values[at])
        return out  # type: ignore[return-value]

    def one(self, value: str | None) -> int:
        code = self.codes.get(value)
        if code is None:
            if self.free:
                code = self.free.pop()
            else:
                code, self.next = self.next, self.next + 1
            self.codes[value] = code
        return code

    def keep(self, live: set[int]) -> None:
        """Forget every value whose code is not in `live` (NULL stays)."""
        self.codes = {v: c for v, c in self.codes.items() if c in live or v is None}
        self.free = sorted(set(range(self.next)) - live, reverse=True)
        self.kept = len(self.codes)


class KeyIds:
    """One group's entity key -> id (a null part -> -1), recycling the ids of dropped keys.
    A key is its fields' category codes: one code, two packed in one int, or a tuple."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self.ids: dict[Hashable, int] = {NULL: -1}
        self.names: list[Hashable] = []  # id -> key
        self.free: list[int] = []

    def of(self, vals: Ints, columns: list[int]) -> list[int]:
        """Ids of the keys of the value matrix's rows (`columns`: the key fields' columns)."""
        if len(columns) == 1:
            keys: list[Hashable] = vals[:, columns[0]].tolist()
        else:
            parts = vals[:, columns]
            null = (parts == NULL).any(axis=1)
            if len(columns) == 2:
                packed = (parts[:, 0] << 32) | parts[:, 1]
                keys = np.where(null, NULL, packed).tolist()
            else:
                keys = [
                    NULL if n else tuple(row) for n, row in zip(null, parts.tolist(), strict=True)
                ]
        return self._ids(keys)

    def of_lists(self, parts: Sequence[Sequence[int]]) -> list[int]:
        """`of` in plain Python for a few rows, given as the key fields' value lists."""
        if len(parts) == 1:
            keys: Sequence[Hashable] = parts[0]
        elif len(parts) == 2:
            keys = list(map(_packed, *parts))
        else:
            keys = [_NULL if _NULL in row else row for row in zip(*parts, strict=True)]
        return self._ids(keys)

    def _ids(self, keys: Sequence[Hashable]) -> list[int]:
        ids = self.ids
        out: list[int | None] = list(map(ids.get, keys))
        if None in out:
            for at, found in enumerate(out):
                if found is None:
                    out[at] = self._new(keys[at])
        return out  # type: ignore[return-value]

    def one(self, values: list[int], columns: list[int]) -> int:
        """`of` for one transaction's values."""
        if len(columns) == 1:
            key: Hashable = values[columns[0]]
        elif len(columns) == 2:
            key = _packed(values[columns[0]], values[columns[1]])
        else:
            parts = tuple(values[c] for c in columns)
            key = NULL if NULL in parts else parts
        found = self.ids.get(key)
        return self._new(key) if found is None else found

    def _new(self, key: Hashable) -> int:
        if key in self.ids:  # seen earlier in this batch
            return self.ids[key]
        if self.free:
            kid = self.free.pop()
            self.names[kid] = key
        else:
            kid = len(self.names)
            self.names.append(key)
        self.ids[key] = kid
        return kid

    def codes(self) -> set[int]:
        """The category codes the live keys are made of."""
        out: set[int] = set()
        for key in self.ids:
            if isinstance(key, tuple):
                out.update(key)
            elif len(self.fields) == 2 and key != NULL:
                assert isinstance(key, int)
                out.update((key >> 32, key & 0xFFFFFFFF))
            elif isinstance(key, int):
                out.add(key)
        return out

    def drop(self, kid: int) -> None:
        del self.ids[self.names[kid]]
        self.names[kid] = None
        self.free.append(kid)

    @property
    def size(self) -> int:
        return len(self.names)


def _packed(a: int, b: int) -> int:
    """Two codes as one key, exactly as numpy's int64 `(a << 32) | b` (wrapping around)."""
    if _NULL in (a, b):
        return _NULL
    key = (a << 32) | b
    return key if -_INT64 <= key < _INT64 else (key + _INT64) % (2 * _INT64) - _INT64


def tx_columns(
    txs: Sequence[TxRow],
    fields: list[str],
    codes: Codes,
    keys: list[KeyIds],
    key_columns: list[list[int]],
) -> tuple[Ints, Ints, Ints, Ints]:
    """ts, seq, the value matrix (one column per field: every field a group reads, its key
    fields included) and the key-id matrix (one column per group); `key_columns` are the
    columns of each group's key fields."""
    n = len(txs)
    if n == 0:
        empty = np.empty(0, dtype=np.int64)
        return (
            empty,
            empty,
            np.empty((0, len(fields)), dtype=np.int64),
            np.empty((0, len(keys)), dtype=np.int64),
        )
    rows = map(attrgetter("ts", "seq", *fields), txs)
    columns: list[Sequence[object]] = list(zip(*rows, strict=True))
    for at, name in enumerate(fields, 2):
        column = columns[at]
        if name not in NUMERIC:
            columns[at] = codes.of(column)  # type: ignore[arg-type]
        elif None in column:
            columns[at] = [NULL if v is None else v for v in column]
    matrix = np.array(columns, dtype=np.int64)
    ts, seq, vals = matrix[0], matrix[1], np.ascontiguousarray(matrix[2:].T)
    groups = zip(keys, key_columns, strict=True)
    if n <= SMALL:
        values = cast(list[Sequence[int]], columns[2:])  # ints now, codes included
        ids = [k.of_lists([values[c] for c in at]) for k, at in groups]
    else:
        ids = [k.of(vals, at) for k, at in groups]
    return (
        ts,
        seq,
        vals,
        np.ascontiguousarray(np.array(ids, dtype=np.int64).reshape(len(keys), n).T),
    )
