"""The Redis backend of the online engine's state: shared by several workers, one round trip each
way per batch, append-only per key.

Layout under `{namespace}:`:

- `{group}:{entity key}`: the key's log (`redis_log`): chunks of entries, each chunk ending with
  a random 8-byte token (a pair key is written as its length-prefixed parts, `3:abc2:xy`).
- `t:{transaction id}`: the label bookkeeping of one transaction (`TxRecord`): its order key and
  the label-aware state keys it joined, the `known_at` of its first fraud label, or the earliest
  fraud label that arrived before it.
- `clock`: the lateness clock (newest order key, latest time, latest label time), merged by max.

Every key except the clock lives `ttl_s` (the horizon plus the allowed lateness) after its last
write. Each worker holds the states it used (the engine's own `KeyState`s, up to `cache_size`
keys, least recently used dropped first) with the offset and token of the log's end it has seen.

- `fetch(keys, transaction ids)` is one Lua call: per state key, nothing when the log still ends
  with the held token, the bytes appended since when it continues it, else the whole log (or
  nothing for a missing key); the transaction records and the clock. New entries are replayed
  onto the held state with the engine's own code (`Replayer`), so they equal the writer's.
- `commit(batch)` is one Lua call: it checks that every fetched key (and transaction record) is
  still as fetched, else writes nothing and raises `StateConflict`; then it appends each key's
  new entries (or rewrites the log as one snapshot entry when most of it is history: compaction),
  appends fraud marks to existing keys the batch did not fetch (order-free), writes the records
  and merges the clock.
- `load` / `save` / `items` / `len` keep the `StateStore` protocol (snapshots, statistics, tests):
  `save` writes whole states as snapshot logs, checked against a preceding `load`.

The Lua scripts touch many keys, so on Redis Cluster a namespace would have to live in one slot;
this backend targets a single Redis (or a primary with replicas).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis

from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.online.compiled import CompiledGroup
from fraudwatch.features.online.plan import compile_plan
from fraudwatch.features.online.redis_log import (
    TOKEN,
    Replayer,
    decode_state,
    encode_entries,
    encode_state,
    frame,
    replay,
)
from fraudwatch.features.online.state import EntityKey, StateConflict, StateKey
from fraudwatch.features.online.windows import KeyState

__all__ = ["RedisState", "TxRecord", "decode_state", "encode_state", "horizon_ttl_s"]

_SCAN_COUNT = 1000
_OFFSET = 2**62  # clock values are stored as 20 digits of value + offset (ordered as strings)
_COMPACT_MIN = 24  # entries a log holds before compaction is considered

# KEYS: clock, n state keys, record keys. ARGV: n, then per state key the offset of the held
# token ('' = none held), then per state key the token. Per state key: '' when the log still
# ends with the token, 'a' .. what follows it, 'w' .. the whole log, nil when absent.
_FETCH = """
local n = tonumber(ARGV[1])
local out = {redis.call('HMGET', KEYS[1], 'n', 't', 'l')}
for i = 1, n do
  local key = KEYS[1 + i]
  local at = ARGV[1 + i]
  local value = false
  if at ~= '' then
    local tail = redis.call('GETRANGE', key, at, -1)
    local token = ARGV[1 + n + i]
    if tail == token then
      value = ''
    elseif string.sub(tail, 1, 8) == token then
      value = 'a' .. string.sub(tail, 9)
    end
  end
  if value == false then
    local whole = redis.call('GET', key)
    if whole then
      value = 'w' .. whole
    end
  end
  out[1 + i] = value
end
for j = n + 2, #KEYS do
  out[j] = redis.call('GET', KEYS[j])
end
return out
"""

# KEYS: clock, n checked state keys, b blind keys, m records. ARGV: n, b, m, ttl, the clock
# (3 values, '' = none); per checked key: held offset ('' = must be absent, '*' = any), token,
# op ('' = check only, 'a' = append, 'w' = replace), data; per blind key: data; per record:
# expected value ('' = absent), new value ('' = unchanged). Returns 0, or the 1-based index of
# the first checked key or record (after the keys) that changed, and then writes nothing.
_COMMIT = """
local n, b, m = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl = ARGV[4]
local a = 8
for i = 1, n do
  local key = KEYS[1 + i]
  local at = ARGV[a]
  if at == '' then
    if redis.call('EXISTS', key) == 1 then return i end
  elseif at ~= '*' then
    if redis.call('GETRANGE', key, at, -1) ~= ARGV[a + 1] then return i end
  end
  a = a + 4
end
local r = 8 + 4 * n + b
for j = 1, m do
  local have = redis.call('GET', KEYS[1 + n + b + j])
  if (have or '') ~= ARGV[r + 2 * (j - 1)] then return n + j end
end
a = 8
for i = 1, n do
  local key = KEYS[1 + i]
  local op = ARGV[a + 2]
  if op == 'a' then
    redis.call('APPEND', key, ARGV[a + 3])
    redis.call('EXPIRE', key, ttl)
  elseif op == 'w' then
    redis.call('SET', key, ARGV[a + 3], 'EX', ttl)
  end
  a = a + 4
end
for k = 1, b do
  local key = KEYS[1 + n + k]
  if redis.call('EXISTS', key) == 1 then
    redis.call('APPEND', key, ARGV[8 + 4 * n + k - 1])
    redis.call('EXPIRE', key, ttl)
  end
end
for j = 1, m do
  local value = ARGV[r + 2 * (j - 1) + 1]
  if value ~= '' then
    redis.call('SET', KEYS[1 + n + b + j], value, 'EX', ttl)
  end
end
local names = {'n', 't', 'l'}
for f = 1, 3 do
  local value = ARGV[4 + f]
  if value ~= '' and value > (redis.call('HGET', KEYS[1], names[f]) or '') then
    redis.call('HSET', KEYS[1], names[f], value)
  end
end
return 0
"""


class TxRecord(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One transaction's label bookkeeping (`ts`/`seq` None while only a label is known)."""

    ts: int | None
    seq: int | None
    keys: list[tuple[int, str | list[str]]]  # label-aware state keys the transaction joined
    first: int | None  # known_at of its first fraud label (that counts)
    pending: int | None  # earliest fraud label that arrived before the transaction

    def state_keys(self) -> list[StateKey]:
        return [(g, k if isinstance(k, str) else tuple(k)) for g, k in self.keys]


_record_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(TxRecord)
Clock = tuple[tuple[int, int] | None, int | None, int | None]  # newest, max time, max label


def encode_record(record: TxRecord) -> bytes:
    return _record_encoder.encode(record)


@dataclass
class Fetched:
    """What one `fetch` returned: states (the held objects), records (raw and decoded), the
    clock, and first fraud label times learned from replayed entries."""

    keys: list[StateKey]  # as asked, present or not
    states: dict[StateKey, KeyState]
    records: dict[str, tuple[bytes, TxRecord | None]]
    clock: Clock
    learned: dict[str, tuple[int, int]]


@dataclass
class Batch:
    """What a batch writes: new entries per fetched key (`msgspec.Raw` each), fraud marks for
    keys it did not fetch, changed transaction records, and the clock."""

    fetched: Fetched
    entries: dict[StateKey, list[msgspec.Raw]] = field(default_factory=dict)
    blind: dict[StateKey, list[msgspec.Raw]] = field(default_factory=dict)
    records: dict[str, TxRecord] = field(default_factory=dict)
    clock: Clock = (None, None, None)


class _Held:
    """A state this worker holds, the end of the log it reflects, and log bookkeeping."""

    __slots__ = ("at", "count", "refreshed", "state", "token")

    def __init__(self, state: KeyState, at: int, token: bytes, count: int) -> None:
        self.state = state
        self.at = at  # offset of the token ending the log as seen
        self.token = token
        self.count = count  # entries in the log


def horizon_ttl_s(feature_set: FeatureSet, allowed_lateness_s: int = 0) -> int:
    """The TTL that keeps every state the engine can still need: horizon plus lateness."""
    horizon_s = -(-compile_plan(feature_set).horizon_us // 1_000_000)
    return max(1, horizon_s + allowed_lateness_s)


def _raw(value: bytes | str) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError("RedisState needs a Redis client without decode_responses")
    return value


def _stamp(value: int | None) -> str:
    return "" if value is None else f"{value + _OFFSET:020d}"


def _unstamp(value: bytes | None) -> int | None:
    return None if value is None else int(value) - _OFFSET


class RedisState:
    """`StateStore` in Redis: append-only logs, optimistic concurrency (module docstring)."""

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        namespace: str,
        ttl_s: int,
        cache_size: int = 200_000,
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
        self.clock_key = f"{namespace}:clock"
        self.cache_size = cache_size
        self.held: dict[StateKey, _Held] = {}  # least recently used first
        self.names: dict[StateKey, str] = {}
        self.versions: dict[StateKey, tuple[str, bytes]] = {}  # read by `load`, for `save`
        self.replayer: Replayer | None = None
        self.round_trips = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._fetch = self.client.register_script(_FETCH)
        self._commit = self.client.register_script(_COMMIT)

    def bind(self, groups: list[CompiledGroup], lateness_us: int, width: int) -> None:
        """Replay logs with the engine's compiled groups (an engine binds its store)."""
        self.replayer = Replayer(groups, lateness_us, width)

    # --- names ----------------------------------------------------------------------------------

    def redis_key(self, key: StateKey) -> str:
        name = self.names.get(key)
        if name is None:
            group, entity = key
            if type(entity) is str:
                name = f"{self.prefix}{group}:{entity}"
            else:
                name = f"{self.prefix}{group}:" + "".join(f"{len(p)}:{p}" for p in entity)
            if len(self.names) > 4 * max(self.cache_size, 1024):
                self.names.clear()
            self.names[key] = name
        return name

    def record_key(self, transaction_id: str) -> str:
        return f"{self.prefix}t:{transaction_id}"

    # --- the batch path -------------------------------------------------------------------------

    def fetch(self, keys: Sequence[StateKey], transaction_ids: Sequence[str] = ()) -> Fetched:
        """One round trip: the current states of `keys`, the records, the clock."""
        held = self.held
        names = [self.clock_key]
        offsets: list[str | int] = [len(keys)]
        tokens: list[bytes] = []
        for key in keys:
            names.append(self.redis_key(key))
            mine = held.get(key)
            if mine is None:
                offsets.append("")
                tokens.append(b"")
            else:
                offsets.append(mine.at)
                tokens.append(mine.token)
        names += [self.record_key(i) for i in transaction_ids]
        reply = self._fetch(keys=names, args=[*offsets, *tokens])
        self.round_trips += 1
        pair, max_time, max_label = reply[0]
        newest = None if pair is None else (int(pair[:20]) - _OFFSET, int(pair[20:]) - _OFFSET)
        clock: Clock = (newest, _unstamp(max_time), _unstamp(max_label))
        states: dict[StateKey, KeyState] = {}
        for key, value in zip(keys, reply[1 : 1 + len(keys)], strict=True):
            state = self._apply(key, value)
            if state is not None:
                states[key] = state
        records: dict[str, tuple[bytes, TxRecord | None]] = {}
        for tx_id, value in zip(transaction_ids, reply[1 + len(keys) :], strict=True):
            if value is None:
                records[tx_id] = (b"", None)
            else:
                raw = _raw(value)
                self.bytes_received += len(raw)
                records[tx_id] = (raw, _record_decoder.decode(raw))
        learned: dict[str, tuple[int, int]] = {}
        if self.replayer is not None:
            learned, self.replayer.learned = self.replayer.learned, {}
        return Fetched(list(keys), states, records, clock, learned)

    def _apply(self, key: StateKey, value: bytes | None) -> KeyState | None:
        """The state after a fetch reply for `key` (held copies updated or dropped)."""
        held = self.held
        if value is None:
            held.pop(key, None)
            return None
        if not value:
            return held[key].state
        raw = _raw(value)
        self.bytes_received += len(raw)
        data = memoryview(raw)[1:]
        mine = held.pop(key, None) if raw[:1] == b"w" else held.get(key)
        state, count = self._replay(key, None if mine is None else mine.state, data)
        if state is None:  # a log of marks only: nothing to hold
            held.pop(key, None)
            return None
        if mine is None:
            mine = held[key] = _Held(state, len(data) - TOKEN, bytes(data[-TOKEN:]), count)
        else:
            mine.at += len(data)
            mine.token = bytes(data[-TOKEN:])
            mine.count += count
        return state

    def _replay(
        self, key: StateKey, state: KeyState | None, data: memoryview
    ) -> tuple[KeyState | None, int]:
        replayer = self.replayer
        if replayer is None:  # an unbound store reads snapshot-only logs
            replayer = Replayer([], 0, 0)
        return replay(replayer, key, state, data)

    def commit(self, batch: Batch) -> None:
        """One round trip: write the batch if nothing it read changed, else `StateConflict`."""
        token = os.urandom(TOKEN)
        fetched, held = batch.fetched, self.held
        chunks: dict[StateKey, tuple[bytes, bytes, int]] = {}  # op, chunk, entries after
        for key, entries in batch.entries.items():
            state = fetched.states[key]
            mine = held.get(key)
            count = len(entries) + (0 if mine is None else mine.count)
            if mine is None:
                chunks[key] = (b"w", frame(encode_entries(entries), token), count)
            elif count >= _COMPACT_MIN and count > 2 * (len(state.events) + len(state.frauds)):
                snap = encode_entries([msgspec.Raw(encode_state(key, state))])
                chunks[key] = (b"w", frame(snap, token), 1)
            else:
                chunks[key] = (b"a", frame(encode_entries(entries), token), count)
        names = [self.clock_key]
        args: list[Any] = []
        none = (b"", b"", 0)
        for key in fetched.keys:
            names.append(self.redis_key(key))
            mine = held.get(key)
            op, data, _ = chunks.get(key, none)
            if mine is None:
                args += [b"", b"", op, data]
            else:
                args += [mine.at, mine.token, op, data]
        names += [self.redis_key(k) for k in batch.blind]
        blind = [frame(encode_entries(v), token) for v in batch.blind.values()]
        names += [self.record_key(i) for i in batch.records]
        records: list[bytes] = []
        for tx_id, record in batch.records.items():
            records += [fetched.records.get(tx_id, (b"", None))[0], encode_record(record)]
        head: list[Any] = [
            len(fetched.keys),
            len(blind),
            len(batch.records),
            self.ttl_s,
            *_stamps(batch.clock),
        ]
        failed = self._commit(keys=names, args=[*head, *args, *blind, *records])
        self.round_trips += 1
        self.bytes_sent += sum(len(c[1]) for c in chunks.values()) + sum(map(len, blind))
        self.bytes_sent += sum(map(len, records))
        if failed:
            for key in batch.entries:  # changed in place by the batch: no longer current
                held.pop(key, None)
            raise StateConflict(f"{names[int(failed)]} changed since it was fetched")
        for key, (op, data, count) in chunks.items():
            mine = held.pop(key, None)
            if op == b"w" or mine is None:
                mine = _Held(fetched.states[key], len(data) - TOKEN, token, count)
            else:
                mine.at += len(data)
                mine.token = token
                mine.count = count
            held[key] = mine
        self._trim()

    def _trim(self) -> None:
        held = self.held
        while len(held) > self.cache_size:
            del held[next(iter(held))]

    # --- the StateStore protocol ------------------------------------------------------------------

    def load(self, keys: Iterable[StateKey]) -> dict[StateKey, KeyState]:
        """The states of those keys; they are the caller's now (no longer held here)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        fetched = self.fetch(wanted)
        for key in wanted:
            mine = self.held.pop(key, None)
            self.versions[key] = ("", b"") if mine is None else (str(mine.at), mine.token)
        return fetched.states

    def save(self, states: Mapping[StateKey, KeyState]) -> None:
        """Write whole states (snapshot logs); a key read by the preceding `load` must not have
        changed since (else `StateConflict`), others are written blindly."""
        versions, self.versions = self.versions, {}
        if not states:
            return
        token = os.urandom(TOKEN)
        names: list[str] = [self.clock_key]
        args: list[Any] = []
        chunks = []
        for key, state in states.items():
            data = frame(encode_entries([msgspec.Raw(encode_state(key, state))]), token)
            chunks.append(data)
            at, mine = versions.get(key, ("*", b""))
            names.append(self.redis_key(key))
            args += [at, mine, "w", data]
        head: list[Any] = [len(states), 0, 0, self.ttl_s, "", "", ""]  # no records, clock unchanged
        failed = self._commit(keys=names, args=[*head, *args])
        self.round_trips += 1
        if failed:
            raise StateConflict(f"{names[int(failed)]} changed since it was loaded")
        for (key, state), data in zip(states.items(), chunks, strict=True):
            self.held.pop(key, None)
            self.held[key] = _Held(state, len(data) - TOKEN, token, 1)
        self._trim()

    def expire(self, before_ts: int) -> int:
        """Redis expires keys by their TTL; this drops held copies silent since `before_ts`
        (from the least recently used, stopping at the first still in use)."""
        held = self.held
        dropped = 0
        while held:
            key = next(iter(held))
            if held[key].state.newest >= before_ts:
                break
            del held[key]
            dropped += 1
        return 0

    def _scan(self) -> Iterator[bytes]:
        yield from self.client.scan_iter(match=f"{self.prefix}[0-9]*", count=_SCAN_COUNT)

    def items(self) -> Iterator[tuple[StateKey, KeyState]]:
        names = list(self._scan())
        for start in range(0, len(names), _SCAN_COUNT):
            part = names[start : start + _SCAN_COUNT]
            for name, value in zip(part, self.client.mget(part), strict=True):
                if value is None:  # expired between SCAN and MGET
                    continue
                key = self._key_of(_raw(name).decode())
                state, _ = self._replay(key, None, memoryview(_raw(value)))
                if state is not None:
                    yield key, state

    def _key_of(self, name: str) -> StateKey:
        group, _, rest = name[len(self.prefix) :].partition(":")
        index = int(group)
        if self.replayer is not None and len(self.replayer.groups[index].group.key_fields) > 1:
            parts: list[str] = []
            while rest:
                size, _, rest = rest.partition(":")
                parts.append(rest[: int(size)])
                rest = rest[int(size) :]
            entity: EntityKey = tuple(parts)
        else:
            entity = rest
        return index, entity

    def __len__(self) -> int:
        return sum(1 for _ in self._scan())

    def records(self) -> Iterator[tuple[str, bytes]]:
        """Every transaction record (for snapshots)."""
        names = list(self.client.scan_iter(match=f"{self.prefix}t:*", count=_SCAN_COUNT))
        for start in range(0, len(names), _SCAN_COUNT):
            part = names[start : start + _SCAN_COUNT]
            for name, value in zip(part, self.client.mget(part), strict=True):
                if value is not None:
                    yield _raw(name).decode()[len(self.prefix) + 2 :], _raw(value)

    def put_records(self, records: Iterable[tuple[str, bytes]], clock: Clock) -> None:
        """Write transaction records and merge the clock (restoring a snapshot)."""
        with self.client.pipeline(transaction=False) as pipe:
            for tx_id, value in records:
                pipe.set(self.record_key(tx_id), value, ex=self.ttl_s)
            pipe.execute()
        self.commit(Batch(Fetched([], {}, {}, (None, None, None), {}), clock=clock))

    def clear(self) -> int:
        """Delete every key of the namespace (tests, resets); returns how many."""
        self.held.clear()
        self.versions.clear()
        names = list(self.client.scan_iter(match=f"{self.prefix}*", count=_SCAN_COUNT))
        for start in range(0, len(names), _SCAN_COUNT):
            self.client.delete(*names[start : start + _SCAN_COUNT])
        return len(names)


def _stamps(clock: Clock) -> list[str]:
    """The clock as strings whose order is the values' order ('' = unknown)."""
    newest, max_time, max_label = clock
    pair = "" if newest is None else _stamp(newest[0]) + _stamp(newest[1])
    return [pair, _stamp(max_time), _stamp(max_label)]
