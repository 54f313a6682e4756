"""The online feature engine: exact sliding windows per entity key, one event at a time.

`online_engine` picks the implementation: the compiled `NativeEngine` for in-process state
(the default), the Python `OnlineEngine` for any other state store (Redis). Both give the same
values, bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudwatch.features.online.engine import (
    LATE_EVENT,
    BatchResult,
    FeatureResult,
    OnlineEngine,
    SnapshotError,
)
from fraudwatch.features.online.state import InProcessState, StateStore

if TYPE_CHECKING:
    from fraudwatch.features.definitions import FeatureSet
    from fraudwatch.features.online.native import NativeEngine


def online_engine(
    feature_set: FeatureSet, *, allowed_lateness_s: int = 0, state: StateStore | None = None
) -> NativeEngine | OnlineEngine:
    """The native engine when the state is in process (`state` None), else `OnlineEngine`."""
    if state is None:
        from fraudwatch.features.online.native import NativeEngine  # numba loads on first use

        return NativeEngine(feature_set, allowed_lateness_s=allowed_lateness_s)
    return OnlineEngine(feature_set, allowed_lateness_s=allowed_lateness_s, state=state)


__all__ = [
    "LATE_EVENT",
    "BatchResult",
    "FeatureResult",
    "InProcessState",
    "OnlineEngine",
    "SnapshotError",
    "StateStore",
    "online_engine",
]
