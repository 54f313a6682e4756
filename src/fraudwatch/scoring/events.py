"""`DecisionMade` events: what was decided, published once it is stored, to whoever reacts to
it (cases, the live feed, a user's hook), off the hot path.

The decision writer publishes each stored batch here (`publish` only queues it); one thread
delivers the batches, in order, to every subscriber. A slow subscriber (opening cases takes a
database transaction) therefore delays neither scoring nor the store writes. Memory is bounded:
when `capacity` decisions wait, `publish` waits (the writer slows down, and with it scoring —
backpressure, never a silent drop). A subscriber that raises is logged and the others still get
the batch; `flush` waits until everything published so far was delivered.

What a crash loses is only a delivery, never a decision: the decisions are stored before they
are published, and cases are rebuilt from the store at start-up (`CaseCatchUp`). The Kafka
worker additionally publishes every decision to the decisions topic, for consumers elsewhere.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

from fraudwatch.decisions.model import Decision
from fraudwatch.events.model import Transaction

log = logging.getLogger(__name__)

DecisionMade = tuple[Transaction | None, Decision]
"""One event: the decision and its transaction (None when the transaction was stored earlier)."""
Subscriber = Callable[[Sequence[DecisionMade]], object]


class DecisionEvents:
    def __init__(self, *, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._subscribers: list[tuple[str, Subscriber]] = []
        self._queue: deque[Sequence[DecisionMade]] = deque()
        self._state = threading.Condition()
        self._waiting = 0  # events published and not yet delivered to every subscriber
        self._closed = False
        self.delivered = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="decision-events", daemon=True)
        self._thread.start()

    def subscribe(self, name: str, subscriber: Subscriber) -> None:
        """`subscriber(events)` gets every batch published from now on, in order."""
        with self._state:
            self._subscribers.append((name, subscriber))

    def publish(self, events: Sequence[DecisionMade]) -> None:
        if not events:
            return
        with self._state:
            if self._closed:
                raise RuntimeError("decision events are closed")
            if not self._subscribers:  # delivered to no one: no need to wake the thread
                self.delivered += len(events)
                return
            while self._waiting >= self._capacity:
                self._state.wait(1.0)  # backpressure: the subscribers are behind
            self._waiting += len(events)
            self._queue.append(events)
            self._state.notify_all()

    @property
    def backlog(self) -> int:
        return self._waiting

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every event published so far reached every subscriber."""
        with self._state:
            return self._state.wait_for(lambda: self._waiting == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        with self._state:
            self._closed = True
            self._state.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._state:
                self._state.wait_for(lambda: bool(self._queue) or self._closed)
                if not self._queue:
                    return  # closed and drained
                events = self._queue.popleft()
                subscribers = list(self._subscribers)
            for name, subscriber in subscribers:
                try:
                    subscriber(events)
                except Exception:  # one subscriber must not starve the others
                    self.failures += 1
                    log.exception("the %s subscriber failed on %d decisions", name, len(events))
            with self._state:
                self._waiting -= len(events)
                self.delivered += len(events)
                self._state.notify_all()
