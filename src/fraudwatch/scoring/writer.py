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
Features = dict[str, dict[str, float | None]]


class QueuedWriter:
    """What both decision writers share: the bounded queue of submitted pairs (and the features
    of the flagged ones), tickets and waiting, and a thread that drains the queue in batches of
    `max_batch` every `max_delay_s` (or at once for a full batch) to `_handle`. A subclass
    stores the batch and calls `_done(items)` once it is durable, in submission order."""

    def __init__(
        self,
        *,
        max_batch: int,
        max_delay_s: float,
        capacity: int,
        on_stored: Listener | None,
        thread_name: str,
    ) -> None:
        self._max_batch = max_batch
        self._max_delay = max_delay_s
        self._capacity = capacity
        self._on_stored = on_stored
        self._items: deque[Pair] = deque()
        self._state = threading.Condition()  # guards _pending, _closed; wakes waiters
        self._wake = threading.Event()  # a full batch waits, or flush/close was asked for
        self._pending = 0  # submitted, not yet stored (and heard by the listener)
        self._features: Features = {}  # by transaction id, guarded by _state
        self._submitted = 0  # items submitted since start (tickets), guarded by _state
        self._stored = 0  # ... and stored, in submission order
        self._closed = False
        self.written = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def submit(self, pairs: Sequence[Pair], features: Features | None = None) -> None:
        """Queue decisions (with their transaction, or None when it is stored already), and
        the features of those to keep them for (by transaction id). Cheap: the writer thread
        is not woken per item but every `max_delay_s` or per full batch."""
        with self._state:
            if self._closed:
                raise RuntimeError("the decision writer is closed")
            while self._pending >= self._capacity:  # bounded memory: wait for the writer
                self._wake.set()
                self._state.wait(1.0)
            if features:
                self._features.update(features)
            self._pending += len(pairs)
            self._submitted += len(pairs)
            self._items.extend(pairs)
        if len(self._items) >= self._max_batch:
            self._wake.set()

    def send(self) -> None:
        """Start storing what is queued now instead of at the next `max_delay_s`: for a caller
        that submitted a whole batch and will wait for it after doing other work (the streaming
        worker scores the next batch meanwhile)."""
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

    def _stop_draining(self, timeout: float) -> None:
        """Flush, refuse new submissions, and let the draining thread finish."""
        if not self.flush(timeout):
            log.error("%d decisions were not stored before the writer closed", self._pending)
        with self._state:
            self._closed = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._max_delay)
            self._wake.clear()
            while self._items:
                items: list[Pair] = []
                while self._items and len(items) < self._max_batch:
                    items.append(self._items.popleft())
                self._handle(items, self._take_features(items))
            with self._state:
                if self._closed and not self._items:
                    return

    def _take_features(self, items: list[Pair]) -> Features:
        if not self._features:
            return {}
        with self._state:
            return {
                d.transaction_id: found
                for _, d in items
                if (found := self._features.pop(d.transaction_id, None)) is not None
            }

    def _handle(self, items: list[Pair], features: Features) -> None:
        raise NotImplementedError

    def _done(self, items: list[Pair]) -> None:
        """`items` are durably stored: waiters return, then the listener hears of them."""
        with self._state:  # `wait` returns (listeners may still be running)
            self._stored += len(items)
            self.written += len(items)
            self._state.notify_all()
        if self._on_stored is not None and items:
            try:
                self._on_stored(items)
            except Exception:  # a listener must not stop the writer
                log.exception("a decision listener failed")
        with self._state:
            self._pending -= len(items)
            self._state.notify_all()


def write_batch(
    pairs: Sequence[Pair], features: Features, router: AlertRouter | None
) -> WriteBatch:
    """The store write of decided pairs: the transactions (with their content hashes), the
    decisions, the alerts they raise (the outbox, in the same transaction) and the features the
    flagged ones were made on."""
    batch = WriteBatch(
        transactions=[(tx, content_hash(tx)) for tx, _ in pairs if tx is not None],
        decisions=[decision for _, decision in pairs],
    )
    if router is not None:
        batch.alerts = [a for tx, d in pairs for a in router.alerts(tx, d)]
    batch.decision_features = [
        (d.transaction_id, d.event_time, found)
        for _, d in pairs
        if (found := features.get(d.transaction_id)) is not None
    ]
    return batch


class DecisionWriter(QueuedWriter):
    """Stores the batches from its own thread, in this process."""

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
        super().__init__(
            max_batch=max_batch,
            max_delay_s=max_delay_s,
            capacity=capacity,
            on_stored=on_stored,
            thread_name="decision-writer",
        )
        self._store = store
        self._router = router
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        self._stop_draining(timeout)

    def _handle(self, items: list[Pair], features: Features) -> None:
        batch = write_batch(items, features, self._router)
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
        self._done(items)
        self._store.maintain()  # SQLite: the next part of the entity index, once acknowledged
