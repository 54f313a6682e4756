"""The Redis backend of the online engine's state: shared by several workers, one round trip each
way per batch.

Layout: every state key is one Redis string `{namespace}:{group}:{entity key}` (a pair key is
written as its length-prefixed parts, `3:abc2:xy`, so keys are unambiguous). The value is a
16-byte version token followed by the `KeyState` as msgpack (msgspec; never pickle, since the
Redis may be shared): `(group, entity key, newest, base, kept, before, events, acc, frauds)`,
decoded strictly into typed fields (`TxRow`s as typed arrays, then `TxRow(*values)`; each row
is encoded once per worker, memoised by identity). Two msgpack extensions carry
what msgpack lacks: min/max queues (`deque`, ext 1) and integers beyond 64 bits (exact sums of
squares, ext 2).

- `load(keys)` is one round trip. With `cache_size=0` it is one MGET. By default the store keeps
  the states it saved last (up to `cache_size` keys, least recently saved dropped first), and
  `load` runs one read-only Lua script that, per key, returns nothing when the stored version
  token still equals the cached copy's, else the value. A worker whose keys nobody else writes
  transfers and decodes almost nothing on load. A loaded state leaves the cache (it is the
  caller's, who may change it) and comes back through `save`; the objects passed to `save` are
  the store's afterwards. `load` remembers each key's token (empty when the key is absent).
- `save(states)` is one EVALSHA of a Lua script that compares the current token of every key
  read by the preceding loads with the remembered one and, only if none changed, writes every
  state with a fresh token and `EX ttl_s`; otherwise nothing is written and `StateConflict` is
  raised. A key saved without having been loaded (restoring a snapshot) is written blindly. A
  save consumes the remembered versions: load again before the next save.
- Expiry is Redis's job: every save sets the TTL, so `expire()` does nothing and returns 0. TTLs
  run on the server's clock while windows run on event time: `ttl_s` should be at least the
  feature set's horizon plus the allowed lateness (`horizon_ttl_s`), and a replay of old history
  keeps states up to `ttl_s` of wall time (values do not depend on expiry; memory does).
- `items()` and `len()` SCAN the namespace (snapshots and statistics only, not the hot path).

The Lua script touches many keys, so on Redis Cluster every key of a namespace would have to live
in one slot; this backend targets a single Redis (or a primary with replicas).
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import os
import typing
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec
import redis

from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.online.plan import compile_plan
from fraudwatch.features.online.state import EntityKey, StateConflict, StateKey
from fraudwatch.features.online.windows import KeyState
from fraudwatch.features.rows import TxRow

__all__ = ["RedisState", "decode_state", "encode_state", "horizon_ttl_s"]

TOKEN = 16  # bytes of the version token in front of every value
_ANY = b"*"  # expected version of a key saved without a load: write blindly
_UNCACHED = b"?"  # token of a key this worker holds no copy of: fetch it
_MEMO_ROWS = 1_000_000
_DEQUE, _BIG = 1, 2
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_SCAN_COUNT = 1000

# Read: KEYS; ARGV = the tokens of the worker's cached copies ("?" for none). Per key: "" when
# the cached copy is current, else the value (nil when absent).
_READ = """
local out = {}
for i = 1, #KEYS do
  if ARGV[i] ~= '?' and redis.call('GETRANGE', KEYS[i], 0, 15) == ARGV[i] then
    out[i] = ''
  else
    out[i] = redis.call('GET', KEYS[i])
  end
end
return out
"""

# Save: KEYS; ARGV = n expected tokens ("" = must be absent, "*" = any), the TTL, n values.
# Returns 0, or the index of the first key that changed (and then writes nothing).
_SAVE = """
local n = #KEYS
for i = 1, n do
  local want = ARGV[i]
  if want ~= '*' and redis.call('GETRANGE', KEYS[i], 0, 15) ~= want then
    return i
  end
end
local ttl = ARGV[n + 1]
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[n + 1 + i], 'EX', ttl)
end
return 0
"""


_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(TxRow))
_HINTS = typing.get_type_hints(TxRow)
_ROW: Any = tuple.__class_getitem__(tuple(_HINTS[n] for n in _ROW_FIELDS))  # TxRow as array
_row_values = operator.attrgetter(*_ROW_FIELDS)
_Wire: Any = msgspec.defstruct(
    "_Wire",
    [
        ("group", int),
        ("key", str | list[str]),
        ("newest", int),
        ("base", int),
        ("kept", int),
        ("before", _ROW | None),
        ("events", list[_ROW]),
        ("acc", list[Any]),
        ("frauds", list[tuple[int, int]]),
    ],
    array_like=True,
    forbid_unknown_fields=True,
)
RowMemo = dict[int, tuple[TxRow, msgspec.Raw]]


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
_decoder = msgspec.msgpack.Decoder(_Wire, ext_hook=_ext_hook)


def _encoded_rows(rows: list[TxRow], memo: RowMemo) -> list[msgspec.Raw]:
    """The rows as msgpack arrays, each encoded once while in `memo` (rows are never changed
    once made; the memo keeps them alive, so their ids are not reused)."""
    out = []
    for row in rows:
        hit = memo.get(id(row))
        if hit is None or hit[0] is not row:
            hit = memo[id(row)] = (row, msgspec.Raw(_plain.encode(_row_values(row))))
        out.append(hit[1])
    return out


def encode_state(key: StateKey, state: KeyState, memo: RowMemo | None = None) -> bytes:
    """The msgpack form of one state (without the version token)."""
    group, entity = key
    before = None if state.before is None else _row_values(state.before)
    events = _encoded_rows(state.events, {} if memo is None else memo)
    wire = (group, entity, state.newest, state.base, state.kept, before, events)
    try:
        return _encoder.encode((*wire, state.acc, state.frauds))
    except OverflowError:  # an exact sum beyond 64 bits
        return _encoder.encode((*wire, [_big(v) for v in state.acc], state.frauds))


def decode_state(data: bytes | memoryview) -> tuple[StateKey, KeyState]:
    """Inverse of `encode_state`; raises `msgspec.DecodeError` (or `ValidationError`) on
    anything that is not exactly a stored state."""
    wire = _decoder.decode(data)
    state = KeyState(wire.acc, wire.newest)
    state.base, state.kept = wire.base, wire.kept
    state.before = None if wire.before is None else TxRow(*wire.before)
    state.events = [TxRow(*values) for values in wire.events]
    state.frauds = wire.frauds
    entity: EntityKey = wire.key if isinstance(wire.key, str) else tuple(wire.key)
    return (wire.group, entity), state


def horizon_ttl_s(feature_set: FeatureSet, allowed_lateness_s: int = 0) -> int:
    """The TTL that keeps every state the engine can still need: horizon plus lateness."""
    horizon_s = -(-compile_plan(feature_set).horizon_us // 1_000_000)
    return max(1, horizon_s + allowed_lateness_s)


def _raw(value: bytes | str) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError("RedisState needs a Redis client without decode_responses")
    return value


class RedisState:
    """`StateStore` in Redis with optimistic concurrency (see the module docstring)."""

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        namespace: str,
        ttl_s: int,
        cache_size: int = 100_000,
    ) -> None:
        if ttl_s < 1:
            raise ValueError("ttl_s must be at least one second")
        if isinstance(url_or_client, str):
            self.client: redis.Redis = redis.Redis.from_url(url_or_client)
        else:
            self.client = url_or_client
        self.namespace = namespace
        self.ttl_s = ttl_s
        self.prefix = f"{namespace}:"
        self.versions: dict[StateKey, bytes] = {}  # tokens read by loads not yet saved
        self.cache_size = cache_size
        self.cache: dict[StateKey, tuple[bytes, KeyState]] = {}  # saved here, least recent first
        self.memo: RowMemo = {}
        self._read = self.client.register_script(_READ)
        self._script = self.client.register_script(_SAVE)
        self._tokens = itertools.count()
        self._origin = os.urandom(8)

    def redis_key(self, key: StateKey) -> str:
        group, entity = key
        if type(entity) is str:
            return f"{self.prefix}{group}:{entity}"
        return f"{self.prefix}{group}:" + "".join(f"{len(part)}:{part}" for part in entity)

    def load(self, keys: Iterable[StateKey]) -> dict[StateKey, KeyState]:
        wanted = list(keys)
        if not wanted:
            return {}
        names = [self.redis_key(key) for key in wanted]
        cached: list[tuple[bytes, KeyState] | None] = []
        if self.cache_size:  # a loaded state is the caller's until saved: take it out
            pop = self.cache.pop
            cached = [pop(key, None) for key in wanted]
            tokens = [_UNCACHED if c is None else c[0] for c in cached]
            values = self._read(keys=names, args=tokens)
        else:
            cached = [None] * len(wanted)
            values = self.client.mget(names)
        out: dict[StateKey, KeyState] = {}
        versions = self.versions
        for key, found, mine in zip(wanted, values, cached, strict=True):
            if found is None:
                versions[key] = b""
                continue
            if not found and mine is not None:  # the cached copy is current
                versions[key], out[key] = mine
                continue
            value = _raw(found)
            versions[key] = value[:TOKEN]
            stored, state = decode_state(memoryview(value)[TOKEN:])
            if stored != key:
                raise msgspec.DecodeError(f"Redis state of {key!r} belongs to {stored!r}")
            out[key] = state
        return out

    def save(self, states: Mapping[StateKey, KeyState]) -> None:
        versions, self.versions = self.versions, {}
        if not states:
            return
        keys: list[str] = []
        expected: list[bytes] = []
        values: list[bytes] = []
        made: list[bytes] = []
        origin, tokens, memo = self._origin, self._tokens, self.memo
        if len(memo) > _MEMO_ROWS:
            memo.clear()
        for key, state in states.items():
            keys.append(self.redis_key(key))
            expected.append(versions.get(key, _ANY))
            token = origin + next(tokens).to_bytes(8, "big")
            made.append(token)
            values.append(token + encode_state(key, state, memo))
        failed = self._script(keys=keys, args=[*expected, self.ttl_s, *values])
        if failed:
            raise StateConflict(f"{keys[int(failed) - 1]} changed since it was loaded")
        if self.cache_size:  # the saved objects are the cache's now
            cache = self.cache
            cache.update(zip(states, zip(made, states.values(), strict=True), strict=True))
            while len(cache) > self.cache_size:
                del cache[next(iter(cache))]

    def expire(self, before_ts: int) -> int:
        """Nothing to do: Redis expires keys by the TTL every save sets."""
        return 0

    def _scan(self) -> Iterator[bytes]:
        yield from self.client.scan_iter(match=f"{self.prefix}*", count=_SCAN_COUNT)

    def items(self) -> Iterator[tuple[StateKey, KeyState]]:
        keys = list(self._scan())
        for start in range(0, len(keys), _SCAN_COUNT):
            for value in self.client.mget(keys[start : start + _SCAN_COUNT]):
                if value is not None:  # expired between SCAN and MGET
                    yield decode_state(memoryview(_raw(value))[TOKEN:])

    def __len__(self) -> int:
        return sum(1 for _ in self._scan())

    def clear(self) -> int:
        """Delete every state of the namespace (tests, resets); returns how many."""
        self.cache.clear()
        self.versions.clear()
        keys = list(self._scan())
        for start in range(0, len(keys), _SCAN_COUNT):
            self.client.delete(*keys[start : start + _SCAN_COUNT])
        return len(keys)
