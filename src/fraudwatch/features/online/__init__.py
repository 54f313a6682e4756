"""The online feature engine: exact sliding windows per entity key, one event at a time."""

from fraudwatch.features.online.engine import (
    LATE_EVENT,
    BatchResult,
    FeatureResult,
    OnlineEngine,
    SnapshotError,
)
from fraudwatch.features.online.state import InProcessState, StateStore

__all__ = [
    "LATE_EVENT",
    "BatchResult",
    "FeatureResult",
    "InProcessState",
    "OnlineEngine",
    "SnapshotError",
    "StateStore",
]
