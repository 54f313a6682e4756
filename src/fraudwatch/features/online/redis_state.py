"""The Redis backend of the online engine's state: shared by several workers, one round trip each
way per batch, append-only.

Layout under `{namespace}:`:

- `b:{i}` for i < `buckets`: an append-only log (`redis_log`) of chunks, one per write, each a
  list of entries per state key (the key's new window events, fraud marks, or a snapshot of the
  whole state after compaction) and replaced transaction records (`TxRecord`: the label
  bookkeeping of a transaction: its order key and the label-aware keys it joined, the `known_at`
  of its first fraud label, or the earliest fraud label known before it). A state key and a
  transaction id belong to the bucket `crc32(name) % buckets`. Every chunk ends with a random
  8-byte token: the log's last token names its version.
- `clock`: the lateness clock (newest order key, latest time, latest label time), merged by max.

Each worker holds a replica: the engine's own `KeyState`s and records, and per bucket the offset
and token of the log's end it has applied.

- `fetch()` is one Lua call: per bucket, nothing when its log still ends with the held token,
  the bytes appended since when it continues it, else the whole log (nothing for a missing one);
  and the clock. New entries are replayed onto the replica with the engine's own generated code
  (`Replayer`), so the replica equals the writers' states bit for bit.
- `commit(batch)` is one Lua call: unless every bucket still ends as fetched (else nothing is
  written and `StateConflict` is raised), it appends the batch's entries and records to their
  buckets (a bucket whose log is mostly history is rewritten instead as snapshots of its live
  states and records: compaction), refreshes their TTL and merges the clock. After a conflict the
  buckets the batch changed in place are dropped from the replica and fetched whole again.
- Expiry: the replica drops states and records silent for the horizon plus the lateness (as the
  in-process store), compaction drops them from Redis, and every bucket has TTL `ttl_s`
  (refreshed by each write) for a namespace nobody writes any more.
- `load` / `save` / `items` / `len` keep the `StateStore` protocol (snapshots, statistics, tests).

Buckets (not one log per key) keep the Redis work of a batch at a few commands whatever the
number of keys it touches, and give compaction a bounded unit; the price is that every worker
holds and replays the whole state, and two workers committing at the same time conflict. The Lua
scripts touch every bucket, so on Redis Cluster a namespace must live in one slot.
"""

from __future__ import annotations

import os
import zlib
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis

from fraudwatch.errors import FraudwatchError
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.online.compiled import CompiledGroup
from fraudwatch.features.online.plan import compile_plan
from fraudwatch.features.online.redis_log import (
    TOKEN,
    Chunk,
    Keyed,
    Replayer,
    RowMemo,
    TxRecord,
    decode_state,
    encode_chunk,
    encode_state,
    frame,
    read_chunks,
)
from fraudwatch.features.online.state import EntityKey, InProcessState, StateConflict, StateKey
from fraudwatch.features.online.windows import KeyState

__all__ = ["Batch", "Fetched", "RedisState", "decode_state", "encode_state", "horizon_ttl_s"]

_OFFSET = 2**62  # clock values are stored as 20 digits of value + offset (ordered as strings)

# KEYS: clock, the buckets. ARGV: per bucket the offset of the held token ('' = none held),
# then per bucket the token. Per bucket: '' when the log still ends with the token, 'a' .. what
# follows it, 'w' .. the whole log, nil when absent. First the clock's three fields and the
# namespace's configuration.
_FETCH = """
local n = #KEYS - 1
local out = {redis.call('HMGET', KEYS[1], 'n', 't', 'l', 'c')}
for i = 1, n do
  local key = KEYS[1 + i]
  local at = ARGV[i]
  local value = false
  if at ~= '' then
    local tail = redis.call('GETRANGE', key, at, -1)
    local token = ARGV[n + i]
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
return out
"""

# KEYS: clock, the buckets. ARGV: ttl, the clock (3 values, '' = unknown), the configuration
# (kept from the first commit; '' = none), then per bucket: held
# offset ('' = must be absent, '*' = any), token, op ('' = none, 'a' = append, 'w' = replace),
# data. Returns 0, or the 1-based index of the first bucket that changed (nothing written).
_COMMIT = """
local n = #KEYS - 1
local ttl = ARGV[1]
for i = 1, n do
  local key = KEYS[1 + i]
  local a = 4 * i + 2
  local at = ARGV[a]
  if at == '' then
    if redis.call('EXISTS', key) == 1 then return i end
  elseif at ~= '*' then
    if redis.call('GETRANGE', key, at, -1) ~= ARGV[a + 1] then return i end
  end
end
for i = 1, n do
  local key = KEYS[1 + i]
  local a = 4 * i + 2
  local op = ARGV[a + 2]
  if op == 'a' then
    redis.call('APPEND', key, ARGV[a + 3])
    redis.call('EXPIRE', key, ttl)
  elseif op == 'w' then
    redis.call('SET', key, ARGV[a + 3], 'EX', ttl)
  end
end
if ARGV[5] ~= '' then
  redis.call('HSETNX', KEYS[1], 'c', ARGV[5])
end
local names = {'n', 't', 'l'}
for f = 1, 3 do
  local value = ARGV[1 + f]
  if value ~= '' and value > (redis.call('HGET', KEYS[1], names[f]) or '') then
    redis.call('HSET', KEYS[1], names[f], value)
  end
end
return 0
"""


class NamespaceMismatch(FraudwatchError):
    """A Redis namespace is used by workers of another feature set or lateness."""

    code = "namespace_mismatch"


Clock = tuple[tuple[int, int] | None, int | None, int | None]  # newest, max time, max label


@dataclass
class Fetched:
    """The replica after a `fetch` (the store's own objects), the shared clock, and first fraud
    label times learned from replayed entries (transaction id -> (ts, known_at))."""

    states: dict[StateKey, KeyState]
    records: dict[str, TxRecord]
    clock: Clock
    learned: dict[str, tuple[int, int]]


@dataclass
class Batch:
    """What a batch writes: per bucket its new (state key, entry) pairs in order (entries as
    `msgspec.Raw`), the records it changed, and the clock."""

    entries: list[list[Keyed]]
    records: dict[str, TxRecord] = field(default_factory=dict)
    clock: Clock = (None, None, None)


class _Seen:
    """How far this worker applied one bucket's log."""

    __slots__ = ("at", "since", "token")

    def __init__(self, at: int, token: bytes, since: int) -> None:
        self.at = at  # offset of the token ending the log as applied
        self.token = token
        self.since = since  # event time of the log's first chunk (its last compaction)


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


def _stamps(clock: Clock) -> list[str]:
    """The clock as strings whose order is the values' order ('' = unknown)."""
    newest, max_time, max_label = clock
    pair = "" if newest is None else _stamp(newest[0]) + _stamp(newest[1])
    return [pair, _stamp(max_time), _stamp(max_label)]


def _unstamp(value: bytes | None) -> int | None:
    return None if value is None else int(value) - _OFFSET


class RedisState:
    """`StateStore` in Redis: bucketed append-only logs, optimistic concurrency (module doc)."""

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        namespace: str,
        ttl_s: int,
        buckets: int = 64,
        compact_bytes: int = 1 << 16,
    ) -> None:
        if ttl_s < 1:
            raise ValueError("ttl_s must be at least one second")
        if buckets < 1:
            raise ValueError("buckets must be at least 1")
        if isinstance(url_or_client, str):
            self.client: redis.Redis = redis.Redis.from_url(url_or_client)
        else:
            self.client = url_or_client
        self.namespace = namespace
        self.ttl_s = ttl_s
        self.prefix = f"{namespace}:"
        self.names = [self.clock_key] + [f"{self.prefix}b:{i}" for i in range(buckets)]
        self.buckets = buckets
        self.compact_bytes = compact_bytes  # a bucket's log is compacted beyond this size when
        self.span_us = ttl_s * 1_000_000  # its first chunk is older than this (see `bind`)
        self.compact_after_us: int | None = None  # (tests: another age than `span_us`)
        self.replica = InProcessState()
        self.records: dict[str, TxRecord] = {}
        self.record_times: deque[tuple[int, str]] = deque()  # for expiry, in arrival order
        self.seen: list[_Seen | None] = [None] * buckets
        self.placed: defaultdict[int, dict[EntityKey, int]] = defaultdict(dict)  # memoised
        self.placed_count = 0  # bucket of each (group ->) entity key
        self.replayer = Replayer([], 0, 0)
        self.config = ""  # feature set version and lateness, once bound
        self.round_trips = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._fetch = self.client.register_script(_FETCH)
        self._commit = self.client.register_script(_COMMIT)

    @property
    def clock_key(self) -> str:
        return f"{self.prefix}clock"

    def bind(
        self,
        groups: list[CompiledGroup],
        *,
        version: str,
        horizon_us: int,
        lateness_us: int,
        width: int,
    ) -> None:
        """Replay logs with the engine's compiled groups (an engine binds its store); its
        feature set version and lateness must be the namespace's."""
        self.replayer = Replayer(groups, lateness_us, width)
        self.span_us = horizon_us + lateness_us
        self.config = f"{version} lateness_us={lateness_us}"

    def bucket(self, key: StateKey) -> int:
        group, entity = key
        placed = self.placed[group]
        found = placed.get(entity)
        if found is None:
            name = entity if type(entity) is str else "\x1f".join(entity)
            found = zlib.crc32(f"{group}:{name}".encode()) % self.buckets
            self.placed_count += 1
            if self.placed_count > 2_000_000:
                for memo in self.placed.values():
                    memo.clear()
                self.placed_count = 0
            placed[entity] = found
        return found

    def record_bucket(self, transaction_id: str) -> int:
        return zlib.crc32(b"t:" + transaction_id.encode()) % self.buckets

    # --- the batch path -------------------------------------------------------------------------

    def fetch(self) -> Fetched:
        """One round trip: bring the replica up to date; the replica and the shared clock."""
        offsets: list[Any] = []
        tokens: list[bytes] = []
        for seen in self.seen:
            offsets.append("" if seen is None else seen.at)
            tokens.append(b"" if seen is None else seen.token)
        reply = self._fetch(keys=self.names, args=[*offsets, *tokens])
        self.round_trips += 1
        pair, max_time, max_label, config = reply[0]
        if config is not None and self.config and _raw(config).decode() != self.config:
            raise NamespaceMismatch(
                f"namespace {self.namespace!r} is used with {_raw(config).decode()!r}, "
                f"this worker runs {self.config!r}: one feature set and lateness per namespace"
            )
        newest = None if pair is None else (int(pair[:20]) - _OFFSET, int(pair[20:]) - _OFFSET)
        clock: Clock = (newest, _unstamp(max_time), _unstamp(max_label))
        replies = reply[1:]
        held = self.seen
        self._drop(  # buckets gone, or rewritten by another worker: replayed from scratch
            {
                index
                for index, value in enumerate(replies)
                if held[index] is not None and (value is None or value[:1] == b"w")
            }
        )
        for index, value in enumerate(replies):
            self._apply(index, value)
        learned, self.replayer.learned = self.replayer.learned, {}
        return Fetched(self.replica.states, self.records, clock, learned)

    def _apply(self, index: int, value: bytes | None) -> None:
        """Apply one bucket's fetch reply to the replica."""
        if not value:  # nothing new, or nothing (dropped already)
            return
        raw = _raw(value)
        self.bytes_received += len(raw)
        data = memoryview(raw)[1:]
        seen = self.seen[index]
        whole = raw[:1] == b"w" or seen is None
        if whole:
            seen = self.seen[index] = _Seen(len(data) - TOKEN, b"", 0)
        else:
            assert seen is not None
            seen.at += len(data)
        for chunk in read_chunks(data):
            self._replay(index, chunk)
            if whole:  # the log's first chunk: a compaction's, or the first write
                seen.since, whole = chunk.time, False
        seen.token = bytes(data[-TOKEN:])

    def _replay(self, index: int, chunk: Chunk) -> None:
        """Apply one chunk to the replica."""
        states, replay = self.replica.states, self.replayer.replay
        for group, entity, entry in chunk.keyed:
            key: StateKey = (group, entity if isinstance(entity, str) else tuple(entity))
            state = replay(key, states.get(key), entry)
            if state is not None:
                states[key] = state
        for record in chunk.records:
            self._put_record(record)

    def _put_record(self, record: TxRecord, *, learn: bool = True) -> None:
        tx_id = record.transaction_id
        if tx_id not in self.records:
            self.record_times.append((record.time, tx_id))
        if learn and record.first is not None and record.ts is not None:  # late events' history
            self.replayer.learned[tx_id] = (record.ts, record.first)
        self.records[tx_id] = record

    def _drop(self, indices: set[int]) -> None:
        """Forget buckets (their states and records) until they are fetched whole again: one
        pass over the replica."""
        if not indices:
            return
        bucket, record_bucket = self.bucket, self.record_bucket
        states, records = self.replica.states, self.records
        for key in [key for key in states if bucket(key) in indices]:
            del states[key]
        for tx_id in [tx_id for tx_id in records if record_bucket(tx_id) in indices]:
            del records[tx_id]
        for index in indices:
            self.seen[index] = None

    def commit(self, batch: Batch) -> None:
        """One round trip: write the batch if no bucket changed since the fetch, else
        `StateConflict` (and the buckets the batch changed are dropped from the replica)."""
        keyed = batch.entries
        records: dict[int, list[TxRecord]] = {}
        record_buckets = {tx_id: self.record_bucket(tx_id) for tx_id in batch.records}
        for tx_id, record in batch.records.items():
            records.setdefault(record_buckets[tx_id], []).append(record)
        touched = sorted({i for i, mine in enumerate(keyed) if mine} | records.keys())
        token = os.urandom(TOKEN)
        now = batch.clock[1] or 0
        compact_after = self.span_us if self.compact_after_us is None else self.compact_after_us
        writes: dict[int, tuple[bytes, bytes, int]] = {}  # op, data, time of the first chunk
        compacted = {
            index
            for index in touched
            if (seen := self.seen[index]) is not None
            and seen.at >= self.compact_bytes
            and now - seen.since > compact_after
        }
        for index, data in self._snapshots(compacted, token, now, records).items():
            writes[index] = (b"w", data, now)
        for index in touched:
            seen = self.seen[index]
            mine, theirs = keyed[index], records.get(index, [])
            if seen is None:
                writes[index] = (b"w", frame(encode_chunk(now, mine, theirs), token), now)
            elif index not in compacted:
                data = frame(encode_chunk(now, mine, theirs), token)
                writes[index] = (b"a", data, seen.since)
        args: list[Any] = [self.ttl_s, *_stamps(batch.clock), self.config]
        for index, seen in enumerate(self.seen):
            op, data, _ = writes.get(index, (b"", b"", 0))
            if seen is None:
                args += [b"", b"", op, data]
            else:
                args += [seen.at, seen.token, op, data]
        failed = self._commit(keys=self.names, args=args)
        self.round_trips += 1
        self.bytes_sent += sum(len(w[1]) for w in writes.values())
        if failed:
            states = self.replica.states
            for index in touched:  # changed in place (or made) by the batch
                for group, entity, _ in keyed[index]:
                    states.pop((group, entity), None)
            self._drop(set(touched))  # fetched whole again
            raise StateConflict(f"{self.names[int(failed)]} changed since it was fetched")
        for index, (op, data, since) in writes.items():
            seen = self.seen[index]
            if op == b"a" and seen is not None:
                seen.at += len(data)
                seen.token = token
            else:
                self.seen[index] = _Seen(len(data) - TOKEN, token, since)
        for record in batch.records.values():
            self._put_record(record, learn=False)

    def _snapshots(
        self, indices: set[int], token: bytes, now: int, changed: dict[int, list[TxRecord]]
    ) -> dict[int, bytes]:
        """Buckets `indices` after the batch (states changed in place, `changed` the records
        per bucket) as one chunk each of snapshots of their live states and records: one pass
        over the replica (compaction)."""
        if not indices:
            return {}
        states, records, cutoff = self.replica.states, self.records, now - self.span_us
        bucket, record_bucket = self.bucket, self.record_bucket
        keyed: dict[int, list[Keyed]] = {index: [] for index in indices}
        alive: dict[int, dict[str, TxRecord]] = {index: {} for index in indices}
        memo: RowMemo = {}
        for key, state in states.items():
            if state.newest >= cutoff and (index := bucket(key)) in indices:  # else expired
                entry = msgspec.Raw(encode_state(key, state, memo))
                keyed[index].append((key[0], key[1], entry))
        for tx_id, record in records.items():
            if record.time >= cutoff and (index := record_bucket(tx_id)) in indices:
                alive[index][tx_id] = record
        for index in indices:
            alive[index].update((r.transaction_id, r) for r in changed.get(index, ()))
        return {
            index: frame(encode_chunk(now, keyed[index], list(alive[index].values())), token)
            for index in indices
        }

    # --- the StateStore protocol ------------------------------------------------------------------

    def load(self, keys: Iterable[StateKey]) -> dict[StateKey, KeyState]:
        """The current states of those keys (the replica's objects: change them only through
        `save`)."""
        states = self.fetch().states
        return {key: states[key] for key in keys if key in states}

    def save(self, states: Mapping[StateKey, KeyState]) -> None:
        """Replace these states (written as snapshots) if nothing changed since the last fetch
        or load, else `StateConflict`."""
        if not states:
            return
        batch = self.batch()
        for key, state in states.items():
            self.replica.states[key] = state
            entry = msgspec.Raw(encode_state(key, state))
            batch.entries[self.bucket(key)].append((key[0], key[1], entry))
        self.commit(batch)

    def batch(self) -> Batch:
        """An empty batch for `commit`."""
        return Batch([[] for _ in range(self.buckets)])

    def put_records(self, records: Iterable[TxRecord], clock: Clock) -> None:
        """Write transaction records and merge the clock (restoring a snapshot)."""
        self.fetch()
        batch = self.batch()
        batch.clock = clock
        for record in records:
            batch.records[record.transaction_id] = record
        self.commit(batch)

    def expire(self, before_ts: int) -> int:
        """Drop replica states and records silent since `before_ts` (Redis drops them at the
        next compaction of their bucket); returns how many states."""
        dropped = self.replica.expire(before_ts)
        times, records = self.record_times, self.records
        while times and times[0][0] < before_ts:
            _, tx_id = times.popleft()
            record = records.get(tx_id)
            if record is not None and record.time < before_ts:
                del records[tx_id]
            elif record is not None:
                times.append((record.time, tx_id))
        return dropped

    def items(self) -> Iterator[tuple[StateKey, KeyState]]:
        return iter(list(self.fetch().states.items()))

    def transaction_records(self) -> list[TxRecord]:
        """Every transaction record (for snapshots)."""
        return list(self.fetch().records.values())

    def __len__(self) -> int:
        return len(self.fetch().states)

    def clear(self) -> int:
        """Delete every key of the namespace (tests, resets); returns how many."""
        self.replica.states.clear()
        self.seen = [None] * self.buckets
        self.records.clear()
        self.record_times.clear()
        names = list(self.client.scan_iter(match=f"{self.prefix}*", count=1000))
        for start in range(0, len(names), 1000):
            self.client.delete(*names[start : start + 1000])
        return len(names)
