"""The streaming worker: consume a batch, score it, store it, publish it, then commit.

One batch goes through, in this order:

1. poll up to `batch_size` messages;
2. decode (`stream.decode`): transactions, labels and logins by their `type`; poison messages
   become dead letters;
3. logins (their risk feeds the transactions after them), transactions (`service.score`,
   idempotent on `transaction_id`), labels; logins and dead letters are stored at once;
4. wait until the decision writer has stored every decision (`writer.flush`);
5. publish the decisions (key: transaction_id) and the dead letters, and wait for delivery;
6. only then commit the consumed offsets.

`run` pipelines consecutive batches: batch N+1 is consumed, decoded and scored while the
decision writer stores batch N (it is sent to the writer as soon as it is scored). A publisher
thread takes the batches in order: it waits until the writer has stored one, publishes its
decisions at once (not after the next batch is scored: the time from a transaction's arrival
to its decision no longer includes a second scoring cycle), and, when the next batch is not
stored yet, waits for the delivery of what it published; the worker thread then commits the
offsets of every batch so delivered (without waiting for the broker). The order of steps 4-6
per batch, and so the guarantees, are unchanged; a batch simply waits for its store write and
its delivery while the next ones are worked on, instead of before.

So a crash anywhere loses nothing (the next owner of the partition reads the batch again) and
duplicates nothing in the store (a transaction decided before gets its stored decision back,
which is also what is published again): the decisions topic is at-least-once, and a repeated
decision is byte-for-byte the first one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from fraudwatch.decisions.model import Decision
from fraudwatch.errors import FraudwatchError
from fraudwatch.events.model import Login, Transaction, content_hash
from fraudwatch.scoring.service import ScoringService
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.storage.model import WriteBatch
from fraudwatch.stream.bus import BusError, Consumer, Producer, next_offsets
from fraudwatch.stream.decode import Decoded, decode_batch

log = logging.getLogger(__name__)
# Seconds spent per stage: "store", "publish" and "deliver" are the publisher thread's (its waits
# for the writer and the broker), which overlap the worker thread's "consume" to "score".
STAGES = ("consume", "decode", "score", "store", "publish", "deliver", "commit")
LATENCY_SAMPLES = 5_000_000
STORE_SLOW_S = 5.0  # say so when a batch has waited this long for the store
AHEAD = 3  # batches scored and not yet delivered, at most (`_Publisher.wait_room`)
FIRST_MESSAGE_WAIT_S = 60.0  # an idle exit waits this long for the first message (group join)
_encode = msgspec.json.Encoder().encode


class Stopped(FraudwatchError):
    """The worker was asked to stop while a batch waited for the store; nothing was committed."""

    code = "worker_stopped"


@dataclass(frozen=True, slots=True)
class Topics:
    events: tuple[str, ...] = ("fraudwatch.transactions",)
    decisions: str = "fraudwatch.decisions"
    dead_letters: str = "fraudwatch.dead-letters"


@dataclass(slots=True)
class WorkerStats:
    consumed: int = 0
    transactions: int = 0
    labels: int = 0
    logins: int = 0
    dead_lettered: int = 0
    replayed: int = 0  # transactions answered with the decision stored before
    published: int = 0
    batches: int = 0
    commit_failures: int = 0
    seconds: float = 0.0
    lag: int | None = None
    first_message_at: float | None = None  # epoch seconds: when the first batch arrived
    last_batch_at: float | None = None  # ... and when the last one was committed
    stage_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    latencies_ms: list[np.ndarray[Any, np.dtype[np.float64]]] = field(default_factory=list)
    _samples: int = 0

    def record_latency(self, produced_ms: Sequence[int], stored_at_s: float) -> None:
        """Produced → stored, per transaction (messages without a timestamp are skipped)."""
        if self._samples >= LATENCY_SAMPLES:
            return
        produced = np.asarray(produced_ms, dtype=np.float64)
        produced = produced[produced > 0]
        self.latencies_ms.append(stored_at_s * 1000.0 - produced)
        self._samples += len(produced)

    def percentiles(self) -> dict[str, float] | None:
        if not self.latencies_ms:
            return None
        values = np.concatenate(self.latencies_ms)
        if not len(values):
            return None
        p50, p95, p99, top = np.percentile(values, [50, 95, 99, 100])
        return {"p50": p50, "p95": p95, "p99": p99, "max": top}

    def as_dict(self) -> dict[str, Any]:
        latency = self.percentiles()
        return {
            "consumed": self.consumed,
            "transactions": self.transactions,
            "labels": self.labels,
            "logins": self.logins,
            "dead_lettered": self.dead_lettered,
            "replayed": self.replayed,
            "decisions_published": self.published,
            "batches": self.batches,
            "commit_failures": self.commit_failures,
            "lag": self.lag,
            "seconds": round(self.seconds, 3),
            "first_message_at": self.first_message_at,
            "last_batch_at": self.last_batch_at,
            "transactions_per_second": (
                round(self.transactions / self.seconds) if self.seconds else None
            ),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_s.items()},
            "latency_ms": None if latency is None else {k: round(v, 2) for k, v in latency.items()},
        }


@dataclass(slots=True)
class _InFlight:
    messages: list[Any]
    decoded: Decoded
    decisions: list[Decision]
    ticket: int  # the writer's `submitted` count once the batch was submitted


class _Publisher:
    """The worker's publisher thread: each batch sent to the writer is published as soon as it
    is stored, in order, and handed back for its commit once its messages are delivered.

    After publishing a batch it waits for the delivery of everything published (a producer
    flush) only when the next batch is not stored yet: batches stored together are delivered
    together. An error (a delivery that failed, `Stopped`) ends the thread; the worker thread
    raises it at its next call, and nothing after the failed batch is committed."""

    def __init__(self, worker: StreamWorker) -> None:
        self._worker = worker
        self._state = threading.Condition()
        self._queue: deque[_InFlight] = deque()  # sent to the writer, not yet delivered
        self._delivered: list[list[Any]] = []  # the messages of batches ready to commit
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None

    def wait_room(self) -> None:
        """Until fewer than `AHEAD` batches are on their way: a worker whose deliveries stall
        reads no more, and would have few batches to read again should it die."""
        with self._state:
            self._state.wait_for(lambda: len(self._queue) < AHEAD or self._failure is not None)
        self.check()

    def put(self, batch: _InFlight) -> None:
        with self._state:
            self._queue.append(batch)
            self._state.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
                self._thread.start()

    def take_delivered(self) -> list[list[Any]]:
        """The messages of the batches delivered since the last call, oldest first."""
        with self._state:
            delivered, self._delivered = self._delivered, []
            return delivered

    def wait_idle(self) -> None:
        """Until every batch handed over is delivered, or the thread has failed."""
        with self._state:
            self._state.wait_for(lambda: not self._queue or self._failure is not None)

    def check(self) -> None:
        """Raise what ended the publisher thread, if anything did."""
        with self._state:
            if self._failure is not None:
                raise self._failure

    def _run(self) -> None:
        worker = self._worker
        writer = worker.service.writer
        stage = worker.stats.stage_s
        clock = time.perf_counter
        published: list[_InFlight] = []  # published, their delivery not yet waited for
        try:
            while True:
                with self._state:
                    self._state.wait_for(lambda: len(self._queue) > len(published))
                    batch = self._queue[len(published)]
                t0 = clock()
                worker._await_stored(batch.ticket)
                stored_at = time.time()
                t1 = clock()
                worker._publish(batch.decisions, batch.decoded)
                published.append(batch)
                t2 = clock()
                stage["store"] += t1 - t0
                stage["publish"] += t2 - t1
                if batch.decoded.timestamps_ms:
                    worker.stats.record_latency(batch.decoded.timestamps_ms, stored_at)
                with self._state:
                    following = (
                        self._queue[len(published)] if len(self._queue) > len(published) else None
                    )
                if following is not None and writer.wait(following.ticket, 0):
                    continue  # stored already: published before the wait for delivery
                worker.producer.flush(worker.publish_timeout_s)
                stage["deliver"] += clock() - t2
                with self._state:
                    for done in published:
                        self._queue.popleft()
                        self._delivered.append(done.messages)
                    published.clear()
                    self._state.notify_all()
        except BaseException as exc:  # handed to the worker thread
            with self._state:
                self._failure = exc
                self._state.notify_all()


class StreamWorker:
    def __init__(
        self,
        service: ScoringService,
        consumer: Consumer,
        producer: Producer,
        tokenizer: CardTokenizer,
        *,
        topics: Topics = Topics(),
        batch_size: int = 1000,
        poll_timeout_s: float = 0.05,
        store_wait_s: float = 0.5,
        publish_timeout_s: float = 30.0,
    ) -> None:
        self.service = service
        self.consumer = consumer
        self.producer = producer
        self.tokenizer = tokenizer
        self.topics = topics
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.store_wait_s = store_wait_s
        self.publish_timeout_s = publish_timeout_s
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._publisher = _Publisher(self)  # stores' waits, publishing and deliveries

    def stop(self) -> None:
        """Finish the batch in hand, commit it, and return from `run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(
        self,
        *,
        max_messages: int | None = None,
        idle_exit_s: float | None = None,
        progress: Callable[[WorkerStats], None] | None = None,
        progress_every_s: float = 5.0,
    ) -> WorkerStats:
        """Process batches until stopped, `max_messages` are consumed, or nothing arrived for
        `idle_exit_s` seconds (before the first message: at least `FIRST_MESSAGE_WAIT_S`, as
        joining a consumer group takes seconds)."""
        started = last_message = last_report = time.monotonic()
        try:
            while not self._stop.is_set():
                limit = self.batch_size
                if max_messages is not None:
                    limit = min(limit, max_messages - self.stats.consumed)
                    if limit <= 0:
                        break
                handled = self.step(limit, pipelined=True)
                now = time.monotonic()
                if handled:
                    last_message = now
                elif idle_exit_s is not None and now - last_message >= (
                    idle_exit_s if self.stats.consumed else max(idle_exit_s, FIRST_MESSAGE_WAIT_S)
                ):
                    break
                if progress is not None and now - last_report >= progress_every_s:
                    last_report = now
                    self.stats.seconds = now - started
                    self.stats.lag = self.consumer.lag()
                    progress(self.stats)
            self._settle()
        except Stopped:
            log.warning("stopped while the store was unavailable; the batch will be read again")
        self.stats.seconds = time.monotonic() - started
        self.stats.lag = self.consumer.lag()
        return self.stats

    def step(self, limit: int | None = None, *, pipelined: bool = False) -> int:
        """One batch: consumed, scored, and (unless `pipelined`) stored, published and
        committed; returns the number of messages handled. Pipelined, the batch is left with
        the writer and the publisher thread, and committed by a later step once delivered, or
        by `run` at the end."""
        clock = time.perf_counter
        stage = self.stats.stage_s
        self._publisher.wait_room()
        t0 = clock()
        messages = self.consumer.poll(limit or self.batch_size, self.poll_timeout_s)
        t1 = clock()
        stage["consume"] += t1 - t0
        if not messages:  # idle: commit what was delivered meanwhile (`run` settles the rest)
            self._commit_delivered()
            return 0
        decoded = decode_batch(messages, self.tokenizer, self.consumer.handed_over)
        t2 = clock()
        decisions = self._apply(decoded)
        t3 = clock()
        stage["decode"] += t2 - t1
        stage["score"] += t3 - t2
        writer = self.service.writer
        self._publisher.put(_InFlight(messages, decoded, decisions, writer.submitted))
        writer.send()  # stored while the next batch is consumed and scored
        stats = self.stats
        if stats.first_message_at is None:
            stats.first_message_at = time.time() - (clock() - t0)
        stats.consumed += len(messages)
        stats.transactions += len(decoded.transactions)
        stats.labels += len(decoded.labels)
        stats.logins += len(decoded.logins)
        stats.dead_lettered += len(decoded.dead)
        stats.batches += 1
        if pipelined:
            self._commit_delivered()  # the batches delivered meanwhile
        else:
            self._settle()
        return len(messages)

    def _settle(self) -> None:
        """Wait until every batch scored is stored, published and delivered, then commit (what
        was delivered before a failure of the publisher thread, which is then raised)."""
        self._publisher.wait_idle()
        self._commit_delivered()

    def _commit_delivered(self) -> None:
        """Commit the offsets of the batches the publisher thread has seen delivered (only a
        batch stored and published is ever committed), without waiting for the broker; then
        raise what ended that thread, if anything did."""
        delivered = self._publisher.take_delivered()
        if delivered:
            t0 = time.perf_counter()
            try:
                self.consumer.commit(next_offsets([m for batch in delivered for m in batch]))
            except BusError as exc:  # stored and published: a re-read is harmless
                self.stats.commit_failures += 1
                log.warning("%s; the batch will be read again and answered from the store", exc)
            self.stats.last_batch_at = time.time()
            self.stats.stage_s["commit"] += time.perf_counter() - t0
        self._publisher.check()

    def _apply(self, decoded: Decoded) -> list[Decision]:
        service = self.service
        for login in decoded.logins:
            service.logins.assess(login)
        decisions = (
            self._score(decoded.transactions, decoded.handed_over) if decoded.transactions else []
        )
        if decoded.labels:
            self._until_stored(lambda: service.label(decoded.labels))
        if decoded.logins or decoded.dead:
            batch = WriteBatch(
                logins=[(login, content_hash(login)) for login in _unique(decoded.logins)],
                dead_letters=[letter for _, letter in decoded.dead],
            )
            self._until_stored(lambda: service.store.write(batch))
        return decisions

    def _until_stored(self, write: Callable[[], object]) -> None:
        """Retry a (idempotent) store write with backoff: a database outage stalls the worker,
        it does not crash it or skip the batch."""
        delay = 0.1
        while True:
            try:
                write()
                return
            except Exception:
                log.exception("a store write failed; retrying in %.1f s", delay)
                if self._stop.wait(delay):
                    raise Stopped("the store is unavailable; nothing committed") from None
                delay = min(delay * 2, 5.0)

    def _score(self, transactions: list[Transaction], handed_over: list[bool]) -> list[Decision]:
        """`service.score`, except that a transaction with a stored decision (decided by a
        worker that died before committing, or before a restart) gets that decision back without
        touching the features: the service remembers only what this process decided. Only the
        transactions whose messages came with their partition (`Consumer.handed_over`) can have
        been decided that way, and only those are looked up in the store: for a worker that has
        caught up, none, and no database read per batch (its cache emptied by the writer's
        commit in between, that read cost 5 % of the worker's CPU: docs/streaming.md)."""
        store = self.service.store
        ids = [tx.transaction_id for tx, h in zip(transactions, handed_over, strict=True) if h]
        stored = store.known_hashes("decision", ids) if ids else {}
        if not stored:
            return self.service.score(transactions)
        earlier = {tid: store.get_decision(tid) for tid in stored}
        self.stats.replayed += len(earlier)
        fresh = [tx for tx in transactions if earlier.get(tx.transaction_id) is None]
        decided = {d.transaction_id: d for d in self.service.score(fresh)} if fresh else {}
        return [earlier.get(tx.transaction_id) or decided[tx.transaction_id] for tx in transactions]

    def _await_stored(self, ticket: int) -> None:
        """Until the writer has stored the batch: the store being down stalls the worker
        (the writer retries), it never skips a batch."""
        started = last_said = time.monotonic()
        while not self.service.writer.wait(ticket, self.store_wait_s):
            if self._stop.is_set():
                raise Stopped("decisions not stored; nothing committed")
            now = time.monotonic()
            if now - last_said >= STORE_SLOW_S:  # a slow store is normal under load; a stuck one
                last_said = now
                log.warning(
                    "waiting %.0f s for the store (%d decisions queued)",
                    now - started,
                    self.service.writer.backlog,
                )

    def _publish(self, decisions: list[Decision], decoded: Decoded) -> None:
        producer = self.producer
        if decisions:
            producer.produce_many(
                self.topics.decisions,
                [(d.transaction_id.encode(), _encode(d)) for d in decisions],
            )
        if decoded.dead:
            producer.produce_many(
                self.topics.dead_letters,
                [(message.key, _encode(letter)) for message, letter in decoded.dead],
            )
        self.stats.published += len(decisions)


def _unique(logins: list[Login]) -> list[Login]:
    seen: dict[str, Login] = {}
    for login in logins:
        seen.setdefault(login.login_id, login)
    return list(seen.values())
