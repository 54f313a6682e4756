"""The load producer: canonical events from JSON lines onto a topic, keyed so that everything of
one card lands in one partition (logins by customer, labels by transaction).

This is the edge: a card number in the input is tokenised here and never reaches the topic.
A line that is not a valid event is sent as it is, without a key, so the worker dead-letters it
with its reason (that path is part of what a load test exercises).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgspec

from fraudwatch.events.model import Event, Label, Login, Transaction, decode_event
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.stream.bus import Producer
from fraudwatch.stream.decode import tokenised

Keyed = tuple[bytes | None, bytes]
CHUNK = 1000
_message = msgspec.json.Encoder().encode
"""A message's JSON: the event's fields in their declared order, so `type` comes first and the
worker's decoder knows the event's kind at once. With the canonical encoding
(`events.model.encode`: sorted keys, `type` near the end) it first scans the object for the
tag: 12.1 against 10.6 µs per message of the benchmark scenario (docs/streaming.md). The same
event either way."""


@dataclass(slots=True)
class ProduceReport:
    produced: int = 0
    invalid: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "produced": self.produced,
            "invalid": self.invalid,
            "seconds": round(self.seconds, 3),
            "messages_per_second": round(self.produced / self.seconds) if self.seconds else None,
        }


def event_key(event: Event) -> bytes | None:
    if isinstance(event, Transaction):
        return None if event.card is None or event.card.token is None else event.card.token.encode()
    if isinstance(event, Login):
        return event.customer_id.encode()
    assert isinstance(event, Label)
    return event.transaction_id.encode()


def keyed(lines: Iterable[bytes], tokenizer: CardTokenizer) -> Iterator[tuple[Keyed, bool]]:
    """(key, value) per non-blank line, and whether it was a valid event."""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        try:
            event = decode_event(line)
            if isinstance(event, Transaction):
                event = tokenised(event, tokenizer)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
            yield (None, line), False
            continue
        yield (event_key(event), _message(event)), True


def send(
    messages: Iterable[Keyed],
    producer: Producer,
    topic: str,
    *,
    rate: float | None = None,
    flush_timeout_s: float = 60.0,
) -> int:
    """Produce `messages` (at `rate` messages/s when given, in chunks), then flush."""
    started = time.perf_counter()
    sent = 0
    chunk: list[Keyed] = []
    for message in messages:
        chunk.append(message)
        if len(chunk) >= (CHUNK if rate is None else max(1, int(rate / 200))):
            producer.produce_many(topic, chunk)
            sent += len(chunk)
            chunk = []
            if rate is not None:
                ahead = sent / rate - (time.perf_counter() - started)
                if ahead > 0:
                    time.sleep(ahead)
    if chunk:
        producer.produce_many(topic, chunk)
        sent += len(chunk)
    producer.flush(flush_timeout_s)
    return sent


def produce_lines(
    lines: Iterable[bytes],
    producer: Producer,
    topic: str,
    tokenizer: CardTokenizer,
    *,
    rate: float | None = None,
    limit: int | None = None,
) -> ProduceReport:
    report = ProduceReport()
    started = time.perf_counter()

    def messages() -> Iterator[Keyed]:
        for count, (message, valid) in enumerate(keyed(lines, tokenizer)):
            if limit is not None and count >= limit:
                return
            report.invalid += not valid
            yield message

    report.produced = send(messages(), producer, topic, rate=rate)
    report.seconds = time.perf_counter() - started
    return report
