"""The worker over the in-process bus: decisions stored before they are published, offsets
committed only after both, poison messages dead-lettered with their reasons, replays answered
from the store."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fraudwatch.bootstrap import Container, bootstrap
from fraudwatch.decisions.model import Decision
from fraudwatch.events.model import Label, Login, Transaction, encode
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import load_settings
from fraudwatch.storage.model import WriteBatch
from fraudwatch.stream.bus import Message, TopicPartition
from fraudwatch.stream.memory import MemoryBroker, MemoryConsumer, MemoryProducer
from fraudwatch.stream.worker import StreamWorker, Topics
from tests.stream.conftest import T0, keyed, transactions

TOPICS = Topics(("tx",), "decisions", "dead")
GROUP = "scorers"
VALID_PAN = "4111111111111111"


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker(partitions=4)


def make_service(app: Container) -> ScoringService:
    return ScoringService(app)


@pytest.fixture
def service(container: Container) -> Iterator[ScoringService]:
    service = make_service(container)
    yield service
    service.close()


def make_worker(service: ScoringService, broker: MemoryBroker, **options: Any) -> StreamWorker:
    return StreamWorker(
        service,
        MemoryConsumer(broker, group=GROUP, topics=TOPICS.events),
        MemoryProducer(broker),
        service.app.tokenizer,
        topics=TOPICS,
        **options,
    )


def publish(broker: MemoryBroker, events: list[Any]) -> None:
    for event in events:
        broker.append("tx", *keyed(event))


def decisions_on_topic(broker: MemoryBroker) -> list[Decision]:
    return [msgspec.json.decode(m.value, type=Decision) for m in broker.messages("decisions")]


def end_offsets(broker: MemoryBroker) -> dict[tuple[str, int], int]:
    ends: dict[tuple[str, int], int] = {}
    for message in broker.messages("tx"):
        ends[("tx", message.partition)] = message.offset + 1
    return ends


def test_every_transaction_is_decided_stored_published_and_committed(
    broker: MemoryBroker, service: ScoringService
) -> None:
    events = transactions(40)
    publish(broker, events)
    stats = make_worker(service, broker, batch_size=16).run(idle_exit_s=0.1)

    assert stats.transactions == 40 and stats.dead_lettered == 0
    published = decisions_on_topic(broker)
    assert sorted(d.transaction_id for d in published) == sorted(e.transaction_id for e in events)
    for message, decision in zip(broker.messages("decisions"), published, strict=True):
        assert message.key == decision.transaction_id.encode()
        assert service.store.get_decision(decision.transaction_id) == decision
    assert broker.committed(GROUP) == end_offsets(broker)
    assert stats.percentiles() is not None


def test_poison_messages_are_dead_lettered_with_reasons_and_never_block(
    broker: MemoryBroker, service: ScoringService
) -> None:
    good = transactions(3)
    bad_currency = encode(good[0]).replace(b'"EUR"', b'"XYZ"').replace(b"tx-00000", b"tx-bad")
    no_amount = msgspec.json.encode({"type": "transaction", "transaction_id": "tx-no-amount"})
    luhn_fails = msgspec.json.encode(
        {
            **msgspec.to_builtins(good[1]),
            "transaction_id": "tx-pan",
            "card": {"number": "4111111111111112"},
        }
    )
    truncated = b'{"type":"transaction","card":{"number":"4111 1111 1111 1111"'
    poison = [truncated, b"\xff\xfe", bad_currency, no_amount, luhn_fails, b'{"type":"alien"}']
    broker.append("tx", b"k", encode(good[0]))
    for value in poison:
        broker.append("tx", b"k", value)  # one partition: the poison sits before good messages
    broker.append("tx", b"k", encode(good[1]))
    broker.append("tx", b"k", encode(good[2]))

    stats = make_worker(service, broker).run(idle_exit_s=0.1)

    assert stats.dead_lettered == len(poison) and stats.transactions == 3
    stored = {letter.position: letter for letter in service.store.iter_dead_letters()}
    reasons = {position: (d.reason, d.field) for position, d in stored.items()}
    assert reasons == {
        1: ("unparseable", None),
        2: ("unparseable", None),
        3: ("unknown_currency", None),
        4: ("missing_field", "event_time"),
        5: ("bad_card_number", "card.number"),
        6: ("bad_value", "type"),
    }
    assert all(d.source == f"tx/{broker.messages('tx')[0].partition}" for d in stored.values())
    assert "4111 1111 1111 1111" not in stored[1].raw and "411111******1111" in stored[1].raw
    on_topic = [msgspec.json.decode(m.value) for m in broker.messages("dead")]
    assert sorted((d["position"], d["reason"]) for d in on_topic) == sorted(
        (p, r) for p, (r, _) in reasons.items()
    )
    assert b"4111 1111 1111 1111" not in b"".join(m.value for m in broker.messages("dead"))
    assert {d.transaction_id for d in decisions_on_topic(broker)} == {
        g.transaction_id for g in good
    }
    assert broker.committed(GROUP) == end_offsets(broker)


def test_a_card_number_is_tokenised_before_scoring_and_storing(
    broker: MemoryBroker, service: ScoringService
) -> None:
    tx = transactions(1)[0]
    raw = {**msgspec.to_builtins(tx), "card": {"number": VALID_PAN}}
    broker.append("tx", b"k", msgspec.json.encode(raw))
    make_worker(service, broker).run(idle_exit_s=0.1)

    stored = service.store.get_transaction(tx.transaction_id)
    assert stored is not None and stored.card is not None
    assert stored.card.number is None
    assert stored.card.token == service.app.tokenizer.token(VALID_PAN)
    assert (stored.card.bin, stored.card.last4) == ("411111", "1111")
    assert VALID_PAN.encode() not in b"".join(m.value for m in broker.messages("decisions"))


class FailingStore:
    """The real store, whose decision writes fail `failures` times; each failure records what
    the bus showed at that moment."""

    def __init__(self, store: Any, broker: MemoryBroker, failures: int) -> None:
        self._store = store
        self._broker = broker
        self.failures = failures
        self.seen_at_failure: list[tuple[dict[Any, int], int]] = []

    def write(self, batch: WriteBatch) -> None:
        if batch.decisions and self.failures > 0:
            self.failures -= 1
            self.seen_at_failure.append(
                (self._broker.committed(GROUP), len(self._broker.messages("decisions")))
            )
            raise OSError("disk on fire")
        self._store.write(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_nothing_is_published_or_committed_before_the_decisions_are_stored(
    broker: MemoryBroker, service: ScoringService
) -> None:
    failing = FailingStore(service.store, broker, failures=2)
    service.writer.close()
    from fraudwatch.scoring.writer import DecisionWriter

    service.writer = DecisionWriter(failing)  # type: ignore[arg-type]
    publish(broker, transactions(10))
    worker = make_worker(service, broker)

    assert worker.step() == 10

    assert failing.seen_at_failure == [({}, 0), ({}, 0)]  # both failures: nothing out yet
    assert len(decisions_on_topic(broker)) == 10
    assert broker.committed(GROUP) == end_offsets(broker)


class SlowDelivery(MemoryProducer):
    """A producer whose messages reach the broker only when flushed, and a flush takes
    `delay_s` (as if each delivery took a while); it records, as each flush ends, how many
    batches the worker had scored by then."""

    def __init__(self, broker: MemoryBroker, delay_s: float = 0.0) -> None:
        super().__init__(broker)
        self.held: list[tuple[str, bytes | None, bytes]] = []
        self.delay_s = delay_s
        self.worker: StreamWorker | None = None
        self.scored_at_flush: list[tuple[int, int]] = []  # (batches scored, decisions delivered)

    def produce_many(self, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
        self.held.extend((topic, key, value) for key, value in messages)

    def flush(self, timeout_s: float) -> None:
        time.sleep(self.delay_s)
        for topic, key, value in self.held:
            self._broker.append(topic, key, value)
        self.held.clear()
        if self.worker is not None:
            delivered = len(self._broker.messages("decisions"))
            self.scored_at_flush.append((self.worker.stats.batches, delivered))


class RecordingConsumer(MemoryConsumer):
    def __init__(self, broker: MemoryBroker) -> None:
        super().__init__(broker, group=GROUP, topics=TOPICS.events)
        self.at_commit: list[tuple[int, int]] = []  # (messages committed, decisions delivered)

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        super().commit(offsets)
        done = sum(self._broker.committed(GROUP).values())
        self.at_commit.append((done, len(self._broker.messages("decisions"))))


def test_pipelined_batches_are_committed_only_once_their_decisions_are_delivered(
    broker: MemoryBroker, service: ScoringService
) -> None:
    """The worker scores the next batches while a batch's deliveries are under way (here each
    flush takes 0.1 s), but it never commits a batch before they are done."""
    publish(broker, transactions(60))
    consumer = RecordingConsumer(broker)
    producer = SlowDelivery(broker, delay_s=0.1)
    worker = StreamWorker(
        service, consumer, producer, service.app.tokenizer, topics=TOPICS, batch_size=10
    )
    producer.worker = worker
    stats = worker.run(idle_exit_s=0.1)

    assert stats.batches == 6
    assert any(scored * 10 > delivered for scored, delivered in producer.scored_at_flush)
    assert all(committed <= delivered for committed, delivered in consumer.at_commit)
    assert consumer.at_commit[-1] == (60, 60)
    assert len(decisions_on_topic(broker)) == 60
    assert broker.committed(GROUP) == end_offsets(broker)


def test_a_batch_is_published_once_stored_without_waiting_for_the_next_one_to_be_scored(
    broker: MemoryBroker, service: ScoringService
) -> None:
    """The second batch's scoring waits (up to 10 s) for the first batch's decisions to reach
    the topic: they are published by the publisher thread as soon as they are stored."""
    publish(broker, transactions(20))
    seen_while_scoring: list[int] = []
    score = service.score

    def score_when_published(txs: Sequence[Transaction]) -> list[Decision]:
        if seen_while_scoring:  # the second batch
            deadline = time.monotonic() + 10
            while not broker.messages("decisions") and time.monotonic() < deadline:
                time.sleep(0.01)
        seen_while_scoring.append(len(broker.messages("decisions")))
        return score(txs)

    service.score = score_when_published  # type: ignore[method-assign]
    stats = make_worker(service, broker, batch_size=10).run(idle_exit_s=0.1)

    assert stats.batches == 2
    assert seen_while_scoring == [0, 10]  # the first batch's, before the second was scored
    assert len(decisions_on_topic(broker)) == 20
    assert broker.committed(GROUP) == end_offsets(broker)


def test_a_worker_stopped_while_the_store_is_down_commits_nothing_and_loses_nothing(
    broker: MemoryBroker, container: Container, home: Path
) -> None:
    service = make_service(container)
    failing = FailingStore(service.store, broker, failures=10**9)
    service.writer.close()
    from fraudwatch.scoring.writer import DecisionWriter

    service.writer = DecisionWriter(failing)  # type: ignore[arg-type]
    events = transactions(12)
    publish(broker, events)
    worker = make_worker(service, broker, store_wait_s=0.05)
    worker.stop()  # asked to stop before the store ever answers
    stats = worker.run()
    assert stats.batches == 0 and broker.committed(GROUP) == {}
    assert broker.messages("decisions") == []
    failing.failures = 0  # the database is back: the old writer stores what it held
    service.close()

    restarted = bootstrap(load_settings(home=home, warmup_days=0))
    fresh = make_service(restarted)
    try:
        make_worker(fresh, broker).run(idle_exit_s=0.1)
        for event in events:
            assert fresh.store.get_decision(event.transaction_id) is not None
        assert broker.committed(GROUP) == end_offsets(broker)
    finally:
        fresh.close()
        restarted.close()


class ForgetfulConsumer(MemoryConsumer):
    """Never commits: a worker killed after publishing, before committing."""

    def commit(self, offsets: Any) -> None:
        pass


def test_a_replay_after_a_restart_publishes_the_stored_decisions_again_and_stores_none_twice(
    broker: MemoryBroker, container: Container, home: Path
) -> None:
    events = transactions(30)
    publish(broker, events)
    first = make_service(container)
    crashed = StreamWorker(
        first,
        ForgetfulConsumer(broker, group=GROUP, topics=TOPICS.events),
        MemoryProducer(broker),
        container.tokenizer,
        topics=TOPICS,
        batch_size=7,
    )
    crashed.run(idle_exit_s=0.1)
    first.close()
    assert broker.committed(GROUP) == {}

    restarted = bootstrap(load_settings(home=home, warmup_days=0))
    second = make_service(restarted)
    try:
        stats = make_worker(second, broker).run(idle_exit_s=0.1)
        assert stats.transactions == 30
        published = decisions_on_topic(broker)
        assert len(published) == 60  # at-least-once: each decision twice ...
        by_id: dict[str, list[Decision]] = {}
        for decision in published:
            by_id.setdefault(decision.transaction_id, []).append(decision)
        for tid, copies in by_id.items():  # ... and both copies are the stored one
            stored = second.store.get_decision(tid)
            assert copies == [stored, stored], tid
        assert second.store.summary().transactions == 30
    finally:
        second.close()
        restarted.close()


def test_labels_and_logins_on_the_same_topic_are_routed_by_type(
    broker: MemoryBroker, service: ScoringService
) -> None:
    tx: Transaction = transactions(1)[0]
    login = Login(login_id="lg-1", customer_id="cust-0", event_time=T0 - timedelta(minutes=5))
    label = Label(
        transaction_id=tx.transaction_id,
        is_fraud=True,
        event_time=tx.event_time,
        known_at=tx.event_time + timedelta(days=3),
    )
    for event in (login, tx, label):
        broker.append("tx", b"cust-0", encode(event))
    stats = make_worker(service, broker).run(idle_exit_s=0.1)

    assert (stats.logins, stats.transactions, stats.labels) == (1, 1, 1)
    assert [lg.login_id for lg in service.store.find_logins(customer_id="cust-0")] == ["lg-1"]
    assert [lb.is_fraud for lb in service.store.labels_for([tx.transaction_id])] == [True]
    assert len(decisions_on_topic(broker)) == 1


def test_bounded_runs_stop_after_max_messages(
    broker: MemoryBroker, service: ScoringService
) -> None:
    publish(broker, transactions(25))
    stats = make_worker(service, broker, batch_size=10).run(max_messages=15)
    assert stats.consumed == 15
    assert sum(broker.committed(GROUP).values()) == 15
    assert isinstance(broker.messages("tx")[0], Message)


class FlakyDeadLetterStore:
    """The real store, whose writes of dead letters fail the first `failures` times."""

    def __init__(self, store: Any, failures: int) -> None:
        self._store = store
        self.failures = failures

    def write(self, batch: WriteBatch) -> None:
        if batch.dead_letters and self.failures > 0:
            self.failures -= 1
            raise OSError("database restarting")
        self._store.write(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_failing_dead_letter_write_is_retried_not_skipped(
    broker: MemoryBroker, service: ScoringService
) -> None:
    flaky = FlakyDeadLetterStore(service.store, failures=2)
    service.store = flaky  # type: ignore[assignment]
    broker.append("tx", b"k", b"{not json")
    publish(broker, transactions(2))

    stats = make_worker(service, broker).run(idle_exit_s=0.1)

    assert flaky.failures == 0 and stats.dead_lettered == 1
    assert [d.reason for d in flaky.iter_dead_letters()] == ["unparseable"]
    assert broker.committed(GROUP) == end_offsets(broker)


def test_only_messages_handed_over_with_their_partition_are_looked_up_in_the_store(
    broker: MemoryBroker, service: ScoringService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages already in a partition when the consumer got it may have been decided by an
    earlier owner: their stored decisions are looked up. Later ones were read by this consumer
    alone: no store read for them (a repeat among them is the service's to answer)."""
    events = transactions(30)
    publish(broker, events[:12])
    worker = make_worker(service, broker, batch_size=8)
    publish(broker, events[12:])
    asked: list[str] = []
    known = service.store.known_hashes

    def spied(kind: str, ids: Sequence[str]) -> dict[str, bytes]:
        asked.extend(ids)
        return known(kind, ids)

    monkeypatch.setattr(service.store, "known_hashes", spied)
    stats = worker.run(idle_exit_s=0.1)
    assert stats.transactions == 30
    assert sorted(asked) == sorted(tx.transaction_id for tx in events[:12])
    assert len(decisions_on_topic(broker)) == 30
    publish(broker, events[:3])  # sent again, after: answered by the service, not stored twice
    again = make_worker(service, broker, batch_size=8)
    publish(broker, events[3:5])
    assert again.run(idle_exit_s=0.1).transactions == 5
    assert sorted(asked[12:]) == sorted(tx.transaction_id for tx in events[:3])  # not [3:5]
    assert service.store.summary().transactions == 30
    copies: dict[str, list[Decision]] = {}
    for decision in decisions_on_topic(broker):
        copies.setdefault(decision.transaction_id, []).append(decision)
    assert sum(map(len, copies.values())) == 35
    for tx in events[:5]:  # each decided once, published twice
        assert copies[tx.transaction_id] == [service.store.get_decision(tx.transaction_id)] * 2
