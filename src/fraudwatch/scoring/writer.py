"""Writes scored transactions and their decisions to the store in batches, off the request path.

`submit` queues (blocking when `capacity` items wait, so memory stays bounded); a thread drains
the queue into one `WriteBatch` per `max_delay_s` (or `max_batch` items) and writes it in one
database transaction. Writes are idempotent, so a retry after a failure never duplicates: a
failed batch is retried with backoff until it succeeds or the writer is closed, never dropped
silently. `flush()` waits until everything submitted so far is stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from fraudwatch.decisions.model import Decision
from fraudwatch.events.model import Transaction, content_hash
from fraudwatch.storage.model import WriteBatch
from fraudwatch.storage.store import EventStore

log = logging.getLogger(__name__)

Listener = Callable[[Sequence[Decision]], None]


class DecisionWriter:
    def __init__(
        self,
        store: EventStore,
        *,
        max_batch: int = 5000,
        max_delay_s: float = 0.05,
        capacity: int = 100_000,
        on_stored: Listener | None = None,
    ) -> None:
        """`on_stored(decisions)` runs after each batch is durably written (to publish them)."""
        self._store = store
        self._max_batch = max_batch
        self._max_delay = max_delay_s
        self._queue: queue.Queue[tuple[Transaction | None, Decision] | None] = queue.Queue(capacity)
        self._on_stored = on_stored
        self._pending = 0
        self._done = threading.Condition()
        self._closed = False
        self.written = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="decision-writer", daemon=True)
        self._thread.start()

    def submit(self, pairs: Sequence[tuple[Transaction | None, Decision]]) -> None:
        """Queue decisions (with their transaction, or None when it is stored already)."""
        if self._closed:
            raise RuntimeError("the decision writer is closed")
        with self._done:
            self._pending += len(pairs)
        for pair in pairs:
            self._queue.put(pair)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted decision is stored; False on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items = [first]
            deadline = time.monotonic() + self._max_delay
            while len(items) < self._max_batch:
                left = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=max(left, 0))
                        if left > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                items.append(item)
            self._write(items)

    def _write(self, items: list[tuple[Transaction | None, Decision]]) -> None:
        batch = WriteBatch(
            transactions=[(tx, content_hash(tx)) for tx, _ in items if tx is not None],
            decisions=[decision for _, decision in items],
        )
        delay = 0.1
        while True:
            try:
                self._store.write(batch)
                break
            except Exception:  # a database hiccup: retry; the write is idempotent
                self.failures += 1
                log.exception("writing %d decisions failed; retrying in %.1f s", len(items), delay)
                if self._closed:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.written += len(items)
        if self._on_stored is not None:
            try:
                self._on_stored(batch.decisions)
            except Exception:  # a listener must not stop the writer
                log.exception("a decision listener failed")
        with self._done:
            self._pending -= len(items)
            self._done.notify_all()
