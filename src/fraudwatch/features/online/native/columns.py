"""A batch of rows as the kernel's columns: integers, category codes and key ids.

Category values (of every field: a value means the same in all fields, so the country
mismatch compares codes) get int codes from one dict, None being `NULL`; numeric fields keep
their integers. Each group maps its entity keys to small ids (one dict per group, None → -1);
ids of expired keys are recycled, so the kernel's per-key arrays stay as large as the live keys.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from fraudwatch.features.online.native.layout import NUMERIC
from fraudwatch.features.online.native.windows import NULL
from fraudwatch.features.rows import TxRow

Ints = npt.NDArray[np.int64]


class Codes:
    """str -> int code, shared by every categorical field (None -> NULL)."""

    def __init__(self) -> None:
        self.codes: dict[str | None, int] = {None: NULL}

    def of(self, values: Sequence[str | None]) -> list[int]:
        codes = self.codes
        out: list[int | None] = list(map(codes.get, values))
        if None in out:
            for at, code in enumerate(out):
                if code is None:
                    out[at] = codes.setdefault(values[at], len(codes) - 1)
        return out  # type: ignore[return-value]


class KeyIds:
    """One group's entity key -> id (None -> -1), recycling the ids of dropped keys."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self.ids: dict[Hashable, int] = {None: -1}
        self.names: list[Hashable] = []  # id -> key
        self.free: list[int] = []

    def of(self, txs: Sequence[TxRow], columns: dict[str, list[object]]) -> list[int]:
        if len(self.fields) == 1:
            keys: list[Hashable] = columns[self.fields[0]]  # type: ignore[assignment]
        else:
            parts = zip(*(columns[name] for name in self.fields), strict=True)
            keys = [None if None in key else key for key in parts]
        ids = self.ids
        out: list[int | None] = list(map(ids.get, keys))
        if None in out:
            for at, found in enumerate(out):
                if found is None:
                    out[at] = self._new(keys[at])
        return out  # type: ignore[return-value]

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

    def drop(self, kid: int) -> None:
        del self.ids[self.names[kid]]
        self.names[kid] = None
        self.free.append(kid)

    @property
    def size(self) -> int:
        return len(self.names)


def tx_columns(
    txs: Sequence[TxRow], fields: list[str], codes: Codes, keys: list[KeyIds]
) -> tuple[Ints, Ints, Ints, Ints]:
    """ts, seq, the value matrix (one column per field) and the key-id matrix (one per group)."""
    n = len(txs)
    wanted = {*fields, *(name for k in keys for name in k.fields)}
    columns: dict[str, list[object]] = {name: list(map(attrgetter(name), txs)) for name in wanted}
    ts = np.fromiter(map(attrgetter("ts"), txs), dtype=np.int64, count=n)
    seq = np.fromiter(map(attrgetter("seq"), txs), dtype=np.int64, count=n)
    vals = np.empty((n, len(fields)), dtype=np.int64)
    for at, name in enumerate(fields):
        column = columns[name]
        if name in NUMERIC:
            if None in column:
                column = [NULL if v is None else v for v in column]
            vals[:, at] = column
        else:
            vals[:, at] = codes.of(column)  # type: ignore[arg-type]
    ids = np.empty((n, len(keys)), dtype=np.int64)
    for g, key_ids in enumerate(keys):
        ids[:, g] = key_ids.of(txs, columns)
    return ts, seq, vals, ids
