"""The bus as the worker sees it: a consumer that polls batches and commits offsets, a producer
that sends keyed messages and flushes. Kafka (`stream.kafka`) and in-process queues
(`stream.memory`) implement it, so the same worker runs in both deployments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from fraudwatch.errors import FraudwatchError

TopicPartition = tuple[str, int]


@dataclass(slots=True, frozen=True)
class Message:
    """One consumed record; `timestamp_ms` is when it was produced (0 when unknown)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int = 0


class BusError(FraudwatchError):
    """The bus refused an operation (a delivery or a commit failed, a topic cannot be made)."""

    code = "bus_error"


class Consumer(Protocol):
    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        """Up to `max_messages`, waiting at most `timeout_s` for the first one."""

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Record, per partition, the offset of the next message to read."""

    def lag(self) -> int | None:
        """Messages behind the end of the assigned partitions, when cheap to know."""

    def handed_over(self, message: Message) -> bool:
        """Whether `message` was in its partition when this consumer was assigned it (or that
        is not known): an earlier owner of the partition, or this worker before a restart, may
        have decided it without committing. A later message can have been read by this
        consumer alone."""

    def close(self) -> None: ...


class Producer(Protocol):
    def produce(self, topic: str, key: bytes | None, value: bytes) -> None: ...

    def produce_many(self, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Queue many messages; delivery is confirmed by `flush`."""

    def flush(self, timeout_s: float) -> None:
        """Wait until everything produced is delivered; raises `BusError` on failure."""

    def close(self) -> None: ...


def next_offsets(messages: Sequence[Message]) -> dict[TopicPartition, int]:
    """The offsets to commit after `messages`: one past the last one read, per partition."""
    out: dict[TopicPartition, int] = {}
    for message in messages:
        key = (message.topic, message.partition)
        if message.offset + 1 > out.get(key, -1):
            out[key] = message.offset + 1
    return out
