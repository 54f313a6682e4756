"""The bus on Kafka (any Kafka-protocol broker) through confluent-kafka.

The consumer belongs to a consumer group and commits by hand only what the worker says is done
(without waiting; synchronously at a hand-over and on close). It fetches in large batches in
the background; a poll returns at once with what is queued (a batch grows by itself while the
previous one is scored), or with the first message to arrive. It returns only messages of
partitions it still owns, so after a rebalance a batch never carries messages another worker now
reads. The producer batches for up to 10 ms (`linger.ms`), waits for all replicas and is
idempotent (no duplicates from its own retries). A flush sends at once whatever the linger.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from fraudwatch.stream.bus import BusError, Message, TopicPartition

log = logging.getLogger(__name__)

CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": 10,  # the broker answers an empty fetch quickly: low latency
    "fetch.min.bytes": 1,
    "max.partition.fetch.bytes": 8 * 1024 * 1024,
    "fetch.max.bytes": 32 * 1024 * 1024,
    "queued.min.messages": 100_000,  # prefetch in the background while a batch is scored
    "partition.assignment.strategy": "range",
}
PRODUCER_DEFAULTS: dict[str, Any] = {
    # Fewer, larger produce requests: on a throwaway Tansu, at 2,500-10,000 messages/s of 600
    # bytes, produced -> received p99 20-21 ms at 10 against 59-77 ms at 2 (docs/streaming.md).
    "linger.ms": 10,
    "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 1_000_000,
    "acks": "all",
    "enable.idempotence": True,
    "delivery.report.only.error": True,
}


class KafkaConsumer:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group: str,
        topics: Sequence[str],
        session_timeout_ms: int = 10_000,
        synchronous_commits: bool = False,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        settings = {
            **CONSUMER_DEFAULTS,
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": max(100, session_timeout_ms // 5),
            "max.poll.interval.ms": max(session_timeout_ms, 300_000),
            "on_commit": self._committed,
            **(config or {}),
        }
        self._consumer = confluent_kafka.Consumer(settings)
        self._owned: set[TopicPartition] = set()
        # Each owned partition's end when it was assigned (`handed_over`): known once its
        # first messages arrive; until then every message counts as handed over.
        self._ends: dict[TopicPartition, int | None] = {}
        self._fetched: set[TopicPartition] = set()  # their first fetch's end folded in
        self._asked: dict[TopicPartition, int] = {}  # offsets the worker asked to commit
        self._synchronous = synchronous_commits
        self.rebalances = 0
        self.commit_failures = 0
        self._consumer.subscribe(list(topics), on_assign=self._assigned, on_revoke=self._revoked)

    def _assigned(self, _: Any, partitions: list[confluent_kafka.TopicPartition]) -> None:
        self.rebalances += 1
        for tp in partitions:
            self._ends[(tp.topic, tp.partition)] = self._end(tp.topic, tp.partition)
            self._fetched.discard((tp.topic, tp.partition))
        self._owned |= {(tp.topic, tp.partition) for tp in partitions}
        log.info("assigned %s", sorted(self._owned))

    def _end(self, topic: str, partition: int, *, cached: bool = False) -> int | None:
        """The partition's high watermark: asked of the broker, or (`cached`) as the last fetch
        response gave it; None if not known."""
        try:
            found = self._consumer.get_watermark_offsets(
                confluent_kafka.TopicPartition(topic, partition), timeout=2.0, cached=cached
            )
        except (confluent_kafka.KafkaException, RuntimeError):
            return None
        return None if found is None or found[1] < 0 else int(found[1])

    def handed_over(self, message: Message) -> bool:
        """Its offset is below the partition's end at its assignment, taken as the larger of
        the broker's answer then (ListOffsets) and the end the first fetch after it reported
        (a later end only makes more messages count). Both, as Tansu's ListOffsets has been seen
        to answer less than the end (1 for a partition of 4 messages sent in one batch)."""
        key = (message.topic, message.partition)
        if key not in self._fetched:  # until the first fetch's end is folded in (`poll`)
            return True
        end = self._ends.get(key)
        return end is None or message.offset < end

    def _revoked(self, _: Any, partitions: list[confluent_kafka.TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        try:  # hand over exactly where this worker stopped
            self._commit_now({tp: o for tp, o in self._asked.items() if tp in revoked})
        except BusError as exc:
            log.warning("%s; the next owner re-reads the last batch", exc)
        self._owned -= revoked
        for tp in revoked:
            self._ends.pop(tp, None)
            self._fetched.discard(tp)
        log.info("revoked %d partitions", len(partitions))

    @property
    def assignment(self) -> set[TopicPartition]:
        return set(self._owned)

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        out: list[Message] = []
        owned = self._owned
        for record in self._records(max_messages, timeout_s):
            error = record.error()
            if error is not None:
                if error.code() != confluent_kafka.KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", error)
                continue
            topic, partition, offset = record.topic(), record.partition(), record.offset()
            if topic is None or partition is None or offset is None:
                continue
            if (topic, partition) not in owned:  # revoked during this call: another reads it
                continue
            out.append(
                Message(
                    topic,
                    partition,
                    offset,
                    record.key(),
                    record.value() or b"",
                    record.timestamp()[1],
                )
            )
            if (topic, partition) not in self._fetched:
                self._fold_fetched_end(topic, partition)
        return out

    def _fold_fetched_end(self, topic: str, partition: int) -> None:
        """A partition's first message since its assignment came in a fetch made after it, whose
        response set the cached end: at least the end at the assignment (`handed_over`)."""
        key = (topic, partition)
        fetched = self._end(topic, partition, cached=True)
        if fetched is None:
            return  # not known yet: its messages still count as handed over
        asked = self._ends.get(key)
        self._ends[key] = fetched if asked is None else max(asked, fetched)
        self._fetched.add(key)

    def _records(self, max_messages: int, timeout_s: float) -> list[confluent_kafka.Message]:
        """What is queued, at once; else the first message to arrive and what came with it.
        (`consume(n, timeout)` alone waits for all n or the whole timeout: latency for nothing.)"""
        consumer = self._consumer
        records = consumer.consume(num_messages=max_messages, timeout=0)
        if records:
            return records
        first = consumer.poll(timeout_s)
        if first is None:
            return []
        rest = (
            consumer.consume(num_messages=max_messages - 1, timeout=0) if max_messages > 1 else []
        )
        return [first, *rest]

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit without waiting for the broker (the batch is stored and published already, so
        a lost commit only means a harmless re-read); what was asked for is committed
        synchronously when partitions are revoked and on close, so a hand-over re-reads nothing."""
        if not offsets:
            return
        self._asked.update(offsets)
        if self._synchronous:
            self._commit_now(offsets)
            return
        wanted = [confluent_kafka.TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            self._consumer.commit(offsets=wanted, asynchronous=True)
        except confluent_kafka.KafkaException as exc:
            raise BusError(f"commit failed: {exc}") from None

    def _commit_now(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        wanted = [confluent_kafka.TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            result = self._consumer.commit(offsets=wanted, asynchronous=False)
        except confluent_kafka.KafkaException as exc:
            raise BusError(f"commit failed: {exc}") from None
        failed = [tp for tp in result or [] if tp.error is not None]
        if failed:
            raise BusError(f"commit failed for {len(failed)} partitions: {failed[0].error}")

    def _committed(self, error: confluent_kafka.KafkaError | None, _: Any) -> None:
        if error is not None:
            self.commit_failures += 1
            log.warning("an asynchronous commit failed (the batch will be re-read): %s", error)

    def lag(self) -> int | None:
        """Messages between the position and the end of each owned partition (a round trip per
        partition: call it for progress reports, not per batch)."""
        total = 0
        for topic, partition in sorted(self._owned):
            tp = confluent_kafka.TopicPartition(topic, partition)
            try:
                _, high = self._consumer.get_watermark_offsets(tp, timeout=1.0)
                position = self._consumer.position([tp])[0].offset
            except confluent_kafka.KafkaException:
                return None
            if position >= 0:
                total += max(0, high - position)
        return total

    def close(self) -> None:
        try:
            self._commit_now({tp: o for tp, o in self._asked.items() if tp in self._owned})
        except BusError as exc:
            log.warning("%s; the last batch will be re-read", exc)
        self._consumer.close()


class KafkaProducer:
    def __init__(self, bootstrap_servers: str, config: Mapping[str, Any] | None = None) -> None:
        self._producer = confluent_kafka.Producer(
            {
                **PRODUCER_DEFAULTS,
                "bootstrap.servers": bootstrap_servers,
                "error_cb": self._on_error,
                **(config or {}),
            }
        )
        self._failed: list[str] = []

    def _on_error(self, error: confluent_kafka.KafkaError) -> None:
        log.warning("producer: %s", error)

    def _on_delivery(self, error: confluent_kafka.KafkaError | None, _: Any) -> None:
        if error is not None:
            self._failed.append(str(error))

    def produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.produce_many(topic, [(key, value)])

    def produce_many(self, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
        produce, on_delivery = self._producer.produce, self._on_delivery
        for key, value in messages:
            while True:
                try:
                    produce(topic, value, key, on_delivery=on_delivery)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        left = self._producer.flush(timeout_s)
        if left:
            raise BusError(f"{left} messages not delivered within {timeout_s} s")
        if self._failed:
            first, count = self._failed[0], len(self._failed)
            self._failed.clear()
            raise BusError(f"{count} messages were not delivered: {first}")

    def close(self) -> None:
        self._producer.flush(10)


def ensure_topics(bootstrap_servers: str, topics: Mapping[str, int], timeout_s: float = 10) -> None:
    """Create the topics that do not exist yet (`{name: partitions}`)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except confluent_kafka.KafkaException as exc:
        raise BusError(
            f"cannot reach the Kafka broker at {bootstrap_servers} within {timeout_s:g} s: "
            f"{exc.args[0].str() if exc.args else exc}"
        ) from None
    wanted = [NewTopic(name, n, 1) for name, n in topics.items() if name not in existing]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except confluent_kafka.KafkaException as exc:
            if exc.args[0].code() != confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                raise BusError(f"cannot create topic {name}: {exc}") from None
