"""The append-only logs of the Redis backend: their wire format and their replay.

A bucket's Redis value is a sequence of *chunks*, one per write: a 4-byte big-endian length, a
msgpack `Chunk` (the writer's latest event time, (group, entity key, entry) in order, replaced
transaction records) and an 8-byte random token. The last token names the log's current version:
a reader that knows the log up to a token asks for what follows it (`redis_state`). Entries are
msgpack arrays tagged by their first element (msgspec, decoded strictly; never pickle, since the
Redis may be shared):

- `Snap` (0): a whole `KeyState` (the log was compacted to it): group, entity key, newest, base,
  kept, before, events, accumulators, frauds. Min/max queues travel as msgpack extension 1,
  integers beyond 64 bits (exact sums of squares) as extension 2.
- `Step` (1): an in-order transaction the engine stepped the key's windows to (added to them when
  it passes the group's filter), with the `known_at` of its first fraud label when it had one.
- `Late` (2): an out-of-order transaction inserted at its place (then the windows are rebuilt).
- `Mark` (3): a fraud label reached one of the key's transactions (ts, seq, id, known_at).

Replaying a log runs the very code the engine ran (`CompiledGroup.step`, `rebuild`), so a
worker that replays another's entries holds bit for bit the state that worker held.
"""

from __future__ import annotations

import dataclasses
import operator
import struct
import typing
from array import array
from bisect import insort
from collections import deque
from collections.abc import Iterator
from typing import Any

import msgspec

from fraudwatch.features.online.compiled import CompiledGroup, insert_late
from fraudwatch.features.online.state import EntityKey, StateKey
from fraudwatch.features.online.windows import KeyState
from fraudwatch.features.rows import TxRow

__all__ = [
    "Chunk",
    "Late",
    "Mark",
    "Replayer",
    "Snap",
    "Step",
    "TxRecord",
    "decode_state",
    "encode_chunk",
    "encode_state",
    "frame",
    "read_chunks",
]

TOKEN = 8  # bytes of the random token ending every chunk
_LENGTH = struct.Struct(">I")
_DEQUE, _BIG = 1, 2
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1

_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(TxRow))
_HINTS = typing.get_type_hints(TxRow)
ROW: Any = tuple.__class_getitem__(tuple(_HINTS[n] for n in _ROW_FIELDS))  # TxRow as an array
row_values = operator.attrgetter(*_ROW_FIELDS)


class Snap(msgspec.Struct, array_like=True, tag=0, forbid_unknown_fields=True):
    group: int
    key: str | list[str]
    newest: int
    base: int
    kept: int
    before: ROW | None
    events: list[ROW]
    acc: list[Any]
    frauds: list[tuple[int, int]]


class Step(msgspec.Struct, array_like=True, tag=1, forbid_unknown_fields=True):
    fraud: int | None  # known_at of the transaction's first fraud label, when it had one
    row: ROW


class Late(msgspec.Struct, array_like=True, tag=2, forbid_unknown_fields=True):
    fraud: int | None
    row: ROW


class Mark(msgspec.Struct, array_like=True, tag=3, forbid_unknown_fields=True):
    ts: int
    seq: int
    transaction_id: str
    known_at: int


Entry = Snap | Step | Late | Mark


class TxRecord(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One transaction's label bookkeeping (`ts`/`seq` None while only a label is known)."""

    transaction_id: str
    ts: int | None
    seq: int | None
    keys: list[tuple[int, str | list[str]]]  # label-aware state keys the transaction joined
    first: int | None  # known_at of its first fraud label (that counts)
    pending: int | None  # earliest fraud label that arrived before the transaction

    def state_keys(self) -> list[StateKey]:
        return [(g, k if isinstance(k, str) else tuple(k)) for g, k in self.keys]

    @property
    def time(self) -> int:
        """When it can be forgotten: its transaction's time, else its pending label's."""
        return self.ts if self.ts is not None else (self.pending or 0)


class Chunk(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One write to a bucket: the writer's latest event time, entries per state key, then
    replaced transaction records."""

    time: int
    keyed: list[tuple[int, str | list[str], Entry]]  # (group, entity key, entry), in order
    records: list[TxRecord]


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, deque):
        return msgspec.msgpack.Ext(_DEQUE, _plain.encode(list(obj)))
    raise NotImplementedError(f"cannot store {type(obj).__name__} in Redis state")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == _DEQUE:
        return deque(_indices.decode(data))
    if code == _BIG:
        return int.from_bytes(data, "big", signed=True)
    raise msgspec.DecodeError(f"unknown msgpack extension {code} in Redis state")


def _big(value: Any) -> Any:
    if type(value) is int and not _INT_MIN <= value <= _INT_MAX:
        size = (value.bit_length() + 8) // 8
        return msgspec.msgpack.Ext(_BIG, value.to_bytes(size, "big", signed=True))
    return value


_plain = msgspec.msgpack.Encoder()
_indices = msgspec.msgpack.Decoder(list[int])
_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_chunk = msgspec.msgpack.Decoder(Chunk, ext_hook=_ext_hook)
_snap = msgspec.msgpack.Decoder(Snap, ext_hook=_ext_hook)


Keyed = tuple[int, EntityKey, msgspec.Raw]  # a state key's group and entity key, an entry


def encode_chunk(time: int, keyed: list[Keyed], records: list[TxRecord]) -> bytes:
    """A `Chunk` of already encoded entries per key, and records."""
    return _plain.encode((time, keyed, records))


def encode_step(kind: int, fraud: int | None, row: TxRow) -> msgspec.Raw:
    """A `Step` (kind 1) or `Late` (kind 2) entry."""
    return msgspec.Raw(_plain.encode((kind, fraud, row_values(row))))


def encode_mark(ts: int, seq: int, transaction_id: str, known_at: int) -> msgspec.Raw:
    return msgspec.Raw(_plain.encode((3, ts, seq, transaction_id, known_at)))


RowMemo = dict[int, tuple[TxRow, msgspec.Raw]]


def _encoded_rows(rows: list[TxRow], memo: RowMemo) -> list[msgspec.Raw]:
    """The rows as msgpack arrays, each encoded once while in `memo` (a row is shared by the
    states of its keys; the memo keeps the rows alive, so their ids are not reused)."""
    out = []
    for row in rows:
        hit = memo.get(id(row))
        if hit is None or hit[0] is not row:
            hit = memo[id(row)] = (row, msgspec.Raw(_plain.encode(row_values(row))))
        out.append(hit[1])
    return out


def encode_state(key: StateKey, state: KeyState, memo: RowMemo | None = None) -> bytes:
    """One state as a `Snap` entry."""
    group, entity = key
    before = None if state.before is None else row_values(state.before)
    events = _encoded_rows(state.events, {} if memo is None else memo)
    wire = (0, group, entity, state.newest, state.base, state.kept, before, events)
    try:
        return _encoder.encode((*wire, state.acc, state.frauds))
    except OverflowError:  # an exact sum beyond 64 bits
        return _encoder.encode((*wire, [_big(v) for v in state.acc], state.frauds))


def _state_of(snap: Snap) -> tuple[StateKey, KeyState]:
    state = KeyState(snap.acc, snap.newest)
    state.base, state.kept = snap.base, snap.kept
    state.before = None if snap.before is None else TxRow(*snap.before)
    state.events = [TxRow(*values) for values in snap.events]
    state.frauds = snap.frauds
    entity: EntityKey = snap.key if isinstance(snap.key, str) else tuple(snap.key)
    return (snap.group, entity), state


def decode_state(data: bytes | memoryview) -> tuple[StateKey, KeyState]:
    """Inverse of `encode_state`; raises `msgspec.DecodeError` (or `ValidationError`)."""
    return _state_of(_snap.decode(data))


def frame(body: bytes, token: bytes) -> bytes:
    """One chunk: length, entries, token."""
    return _LENGTH.pack(len(body)) + body + token


def read_chunks(data: memoryview) -> Iterator[Chunk]:
    """The consecutive chunks of a log; `msgspec.DecodeError` on a malformed one."""
    at, end = 0, len(data)
    while at < end:
        if at + 4 > end:
            raise msgspec.DecodeError("truncated chunk in a Redis state log")
        (size,) = _LENGTH.unpack_from(data, at)
        stop = at + 4 + size
        if stop + TOKEN > end:
            raise msgspec.DecodeError("truncated chunk in a Redis state log")
        yield _chunk.decode(data[at + 4 : stop])
        at = stop + TOKEN


@dataclasses.dataclass
class Replayer:
    """Applies log entries to one key's state with the engine's own generated code."""

    groups: list[CompiledGroup]
    lateness_us: int
    width: int
    learned: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    """transaction id -> (ts, known_at of its first fraud label), from replayed entries"""

    def __post_init__(self) -> None:
        self.scratch = array("d", bytes(8 * self.width))  # feature values nobody reads

    def replay(self, key: StateKey, state: KeyState | None, entry: Entry) -> KeyState | None:
        """The key's state after `entry` (None: still no state)."""
        compiled = self.groups[key[0]] if self.groups else None  # unbound: snapshots only
        scratch = self.scratch
        learned = self.learned
        kind = type(entry)
        if kind is Step or kind is Late:
            assert isinstance(entry, Step | Late)
            row = TxRow(*entry.row)
            frauds = {} if entry.fraud is None else {row.transaction_id: entry.fraud}
            if entry.fraud is not None:
                learned[row.transaction_id] = (row.ts, entry.fraud)
            if compiled is None:
                raise msgspec.DecodeError("a Redis state log needs a bound store to replay")
            if state is None:
                state = KeyState(compiled.new_acc(), row.ts)
            if kind is Step:
                compiled.step(state, row, scratch, frauds, self.lateness_us)
            else:
                insert_late(compiled, state, row, frauds)
            state.newest = max(state.newest, row.ts)
        elif kind is Mark:
            assert isinstance(entry, Mark)
            learned[entry.transaction_id] = (entry.ts, entry.known_at)
            if state is not None:
                insort(state.frauds, (entry.ts, entry.seq))
        else:
            assert isinstance(entry, Snap)
            stored, state = _state_of(entry)
            if stored != key:
                raise msgspec.DecodeError(f"Redis state of {key!r} belongs to {stored!r}")
        return state
