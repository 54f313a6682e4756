"""The in-process bus of the embedded deployment (and of fast tests): partitioned topics as
lists in memory, committed offsets per consumer group, a condition variable for waiting.

It keeps Kafka's semantics the worker relies on: messages are never removed, a consumer starts
at its group's committed offsets, and what it read but did not commit is read again by the next
consumer of the group. Each consumer reads every partition of its topics (one worker per group).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence

from fraudwatch.stream.bus import Message, TopicPartition


class MemoryBroker:
    def __init__(self, partitions: int = 4) -> None:
        self.partitions = partitions
        self._topics: dict[str, list[list[Message]]] = {}
        self._committed: dict[str, dict[TopicPartition, int]] = {}
        self._changed = threading.Condition()

    def _log(self, topic: str) -> list[list[Message]]:
        log = self._topics.get(topic)
        if log is None:
            log = self._topics[topic] = [[] for _ in range(self.partitions)]
        return log

    def append(self, topic: str, key: bytes | None, value: bytes) -> Message:
        with self._changed:
            log = self._log(topic)
            partition = 0 if key is None else zlib.crc32(key) % self.partitions
            message = Message(
                topic, partition, len(log[partition]), key, value, int(time.time() * 1000)
            )
            log[partition].append(message)
            self._changed.notify_all()
            return message

    def messages(self, topic: str) -> list[Message]:
        """Every message of `topic`, partition by partition."""
        with self._changed:
            return [m for part in self._log(topic) for m in part]

    def ends(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """The next offset of every partition of `topics`."""
        with self._changed:
            return {
                (topic, p): len(log) for topic in topics for p, log in enumerate(self._log(topic))
            }

    def committed(self, group: str) -> dict[TopicPartition, int]:
        with self._changed:
            return dict(self._committed.get(group, {}))

    def commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        with self._changed:
            self._committed.setdefault(group, {}).update(offsets)

    def read(
        self, group: str, topics: Iterable[str], positions: dict[TopicPartition, int], limit: int
    ) -> list[Message]:
        out: list[Message] = []
        committed = self._committed.get(group, {})
        for topic in topics:
            for partition, log in enumerate(self._log(topic)):
                key = (topic, partition)
                start = positions.setdefault(key, committed.get(key, 0))
                taken = log[start : start + limit - len(out)]
                out.extend(taken)
                positions[key] = start + len(taken)
                if len(out) >= limit:
                    return out
        return out

    def wait(self, timeout_s: float) -> None:
        with self._changed:
            self._changed.wait(timeout_s)


class MemoryConsumer:
    def __init__(self, broker: MemoryBroker, *, group: str, topics: Sequence[str]) -> None:
        self._broker = broker
        self._group = group
        self._topics = list(topics)
        self._positions: dict[TopicPartition, int] = {}
        self._ends = broker.ends(self._topics)  # assigned every partition now (`handed_over`)

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        while True:
            with self._broker._changed:
                batch = self._broker.read(self._group, self._topics, self._positions, max_messages)
                left = deadline - time.monotonic()
                if batch or left <= 0:
                    return batch
                self._broker._changed.wait(left)

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._broker.commit(self._group, offsets)

    def lag(self) -> int | None:
        with self._broker._changed:
            return sum(
                len(log) - self._positions.get((topic, p), 0)
                for topic in self._topics
                for p, log in enumerate(self._broker._log(topic))
            )

    def handed_over(self, message: Message) -> bool:
        end = self._ends.get((message.topic, message.partition))
        return end is None or message.offset < end

    def close(self) -> None:
        self._positions.clear()


class MemoryProducer:
    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    def produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._broker.append(topic, key, value)

    def produce_many(self, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
        for key, value in messages:
            self._broker.append(topic, key, value)

    def flush(self, timeout_s: float) -> None:
        """Appends are synchronous: nothing is ever in flight."""

    def close(self) -> None:
        pass
