"""Writes scored transactions and their decisions to the store in batches, off the request path.

`submit` queues (blocking when `capacity` items wait, so memory stays bounded); a thread drains
the queue into one `WriteBatch` per `max_delay_s` (or `max_batch` items) and writes it in one
database transaction. Writes are idempotent, so a retry after a failure never duplicates: a
failed batch is retried with backoff until it succeeds or the writer is closed, never dropped
silently. `flush()` waits until everything submitted so far is stored; `wait(ticket)` until
what was submitted up to a `submitted` count is (batches are stored in submission order), which
lets a caller score the next batch while the previous one is being written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from fraudwatch.alerts.dispatcher import AlertRouter
from fraudwatch.decisions.model import Decision
from fraudwatch.events.model import Transaction, content_hash
from fraudwatch.storage.model import WriteBatch
from fraudwatch.storage.store import EventStore

log = logging.getLogger(__name__)

Pair = tuple[Transaction | None, Decision]
Listener = Callable[[Sequence[Pair]], None]


class DecisionWriter:
    def __init__(
        self,
        store: EventStore,
        *,
        max_batch: int = 5000,
        max_delay_s: float = 0.05,
        capacity: int = 100_000,
        on_stored: Listener | None = None,
        router: AlertRouter | None = None,
    ) -> None:
        """`on_stored(pairs)` runs after each batch is durably written (to open cases, publish);
        `router` turns decisions into alerts, stored in the same transaction (the outbox)."""
        self._store = store
        self._max_batch = max_batch
        self._max_delay = max_delay_s
        self._capacity = capacity
        self._items: deque[tuple[Transaction | None, Decision]] = deque()
        self._on_stored = on_stored
        self._router = router
        self._state = threading.Condition()  # guards _pending, _closed; wakes waiters
        self._wake = threading.Event()  # a full batch waits, or flush/close was asked for
        self._pending = 0
        self._features: dict[str, dict[str, float | None]] = {}  # by transaction id, _state
        self._submitted = 0  # items submitted since start (tickets), guarded by _state
        self._stored = 0  # ... and stored, in submission order
        self._closed = False
        self.written = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="decision-writer", daemon=True)
        self._thread.start()

    def submit(
        self,
        pairs: Sequence[tuple[Transaction | None, Decision]],
        features: dict[str, dict[str, float | None]] | None = None,
    ) -> None:
        """Queue decisions (with their transaction, or None when it is stored already), and
        the features of those to keep them for (by transaction id). Cheap: the writer thread
        is not woken per item but every `max_delay_s` or per full batch."""
        with self._state:
            if features:
                self._features.update(features)
            if self._closed:
                raise RuntimeError("the decision writer is closed")
            while self._pending >= self._capacity:  # bounded memory: wait for the writer
                self._wake.set()
                self._state.wait(1.0)
            self._pending += len(pairs)
            self._submitted += len(pairs)
            self._items.extend(pairs)
        if len(self._items) >= self._max_batch:
            self._wake.set()

    @property
    def submitted(self) -> int:
        """A ticket for everything submitted so far (see `wait`)."""
        with self._state:
            return self._submitted

    def wait(self, ticket: int, timeout: float = 30.0) -> bool:
        """Wait until everything submitted before `ticket` was taken is stored; False on
        timeout."""
        self._wake.set()
        with self._state:
            return self._state.wait_for(lambda: self._stored >= ticket, timeout)

    @property
    def backlog(self) -> int:
        """Decisions submitted and not yet stored."""
        return self._pending

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted decision is stored; False on timeout."""
        self._wake.set()
        with self._state:
            return self._state.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        with self._state:
            self._closed = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._max_delay)
            self._wake.clear()
            while self._items:
                items: list[tuple[Transaction | None, Decision]] = []
                while self._items and len(items) < self._max_batch:
                    items.append(self._items.popleft())
                self._write(items)
            with self._state:
                if self._closed and not self._items:
                    return

    def _write(self, items: list[tuple[Transaction | None, Decision]]) -> None:
        batch = WriteBatch(
            transactions=[(tx, content_hash(tx)) for tx, _ in items if tx is not None],
            decisions=[decision for _, decision in items],
        )
        if self._router is not None:
            batch.alerts = [a for tx, d in items for a in self._router.alerts(tx, d)]
        if self._features:
            with self._state:
                found = [(d, self._features.pop(d.transaction_id, None)) for _, d in items]
            batch.decision_features = [
                (d.transaction_id, d.event_time, f) for d, f in found if f is not None
            ]
        delay = 0.1
        while True:
            try:
                self._store.write(batch)
                break
            except Exception:  # a database hiccup: retry; the write is idempotent
                self.failures += 1
                log.exception("writing %d decisions failed; retrying in %.1f s", len(items), delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.written += len(items)
        with self._state:  # durably stored: `wait` returns (listeners may still be running)
            self._stored += len(items)
            self._state.notify_all()
        if self._on_stored is not None:
            try:
                self._on_stored(items)
            except Exception:  # a listener must not stop the writer
                log.exception("a decision listener failed")
        with self._state:
            self._pending -= len(items)
            self._state.notify_all()
