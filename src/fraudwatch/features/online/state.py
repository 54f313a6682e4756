"""Where the online engine keeps per-key state: a small protocol and the in-process backend.

State is addressed by `StateKey = (group index, entity key)`. The protocol reads and writes a
batch of keys at once (`load` / `save`) so a remote backend (`redis_state.RedisState`) can do one
round trip per batch of events; `expire` drops keys silent since a time (Redis uses TTLs). A
shared backend may refuse a `save` with `StateConflict` when another writer changed one of the
keys since this one's `load`; the engine then reloads and recomputes its batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from fraudwatch.errors import FraudwatchError
from fraudwatch.features.online.windows import KeyState

EntityKey = str | tuple[str, ...]
StateKey = tuple[int, EntityKey]


class StateConflict(FraudwatchError):
    """A shared store refused a save: another writer changed a key since it was loaded."""

    code = "state_conflict"


class StateStore(Protocol):
    """Per-key state of the online engine."""

    def load(self, keys: Iterable[StateKey]) -> dict[StateKey, KeyState]:
        """The states of those keys that have one (missing keys are absent)."""
        ...

    def save(self, states: Mapping[StateKey, KeyState]) -> None:
        """Store (or replace) these states; they count as touched now."""
        ...

    def expire(self, before_ts: int) -> int:
        """Drop states whose newest event is older than `before_ts`; returns how many."""
        ...

    def items(self) -> Iterator[tuple[StateKey, KeyState]]:
        """Every state (for snapshots and statistics)."""
        ...

    def __len__(self) -> int: ...


class InProcessState:
    """A dict in placing order (see `expire`), so expiry pops from the front in O(expired)."""

    def __init__(self) -> None:
        self.states: dict[StateKey, KeyState] = {}

    def load(self, keys: Iterable[StateKey]) -> dict[StateKey, KeyState]:
        states = self.states
        return {key: states[key] for key in keys if key in states}

    def save(self, states: Mapping[StateKey, KeyState]) -> None:
        for key, state in states.items():
            self.touch(key, state)

    def touch(self, key: StateKey, state: KeyState) -> None:
        """Store one state at the back of the expiry order."""
        self.states.pop(key, None)
        self.states[key] = state
        state.placed = state.newest

    def expire(self, before_ts: int) -> int:
        """Keys sit in the order they were placed, each with its `newest` then (`placed`); the
        engine's fast path updates `newest` without moving the key, so a front key still in use
        is moved to the back here instead (at most once per key and horizon)."""
        states = self.states
        dropped: list[StateKey] = []
        moved: list[tuple[StateKey, KeyState]] = []
        for key, state in states.items():  # one pass: a dict skips its deleted slots slowly
            if state.placed >= before_ts:
                break  # placing order ~ time order: later keys are newer (late events aside)
            if state.newest < before_ts:
                dropped.append(key)
            else:
                moved.append((key, state))
        for key in dropped:
            del states[key]
        for key, state in moved:
            del states[key]
            state.placed = state.newest
            states[key] = state
        return len(dropped)

    def items(self) -> Iterator[tuple[StateKey, KeyState]]:
        return iter(list(self.states.items()))

    def __len__(self) -> int:
        return len(self.states)
