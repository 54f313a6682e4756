"""Process-wide tuning shared by the long-running processes (the API, the stream worker, the
decision writer)."""

from __future__ import annotations

import gc


def quiet_garbage_collector(young: int = 50_000, old: int = 100) -> None:
    """Call once start-up is done. What start-up built (the model, the rules, the features' key
    maps, the database metadata: millions of objects) is frozen out of the cyclic collector's
    scans, and young collections run every `young` allocations instead of 700. These processes
    allocate many short-lived, rarely cyclic objects per batch (decoded events, rows): with the
    defaults the collector ran every few hundred of them, rescanning the survivors each time (in
    the decision writer, two thirds of the cost of decoding a batch), and its full collections
    paused the API's event loop for 50-200 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, 50, old)
