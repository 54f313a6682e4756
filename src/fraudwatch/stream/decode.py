"""Messages to canonical events, routed by their `type`; what cannot become one is a dead letter.

A poison message (not JSON, not a valid event, a card number that fails validation) never stops
the worker: it becomes a `DeadLetter` naming the partition and offset, the reason and the field,
with card numbers in the raw text masked. A card number that is valid is tokenised here, so it
goes no further than this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from fraudwatch.errors import RecordError
from fraudwatch.events.deadletter import DeadLetter, from_validation_error
from fraudwatch.events.model import Label, Login, Transaction, decode_event
from fraudwatch.security.masking import mask_pans
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.stream.bus import Message

FORMAT = "json"


@dataclass(slots=True)
class Decoded:
    transactions: list[Transaction] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)  # of each transaction's message
    # Whether each transaction's message was handed over with its partition (`handed_over`).
    handed_over: list[bool] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    dead: list[tuple[Message, DeadLetter]] = field(default_factory=list)


def source_of(message: Message) -> str:
    """A dead letter's source: offsets are positions within one partition of one topic."""
    return f"{message.topic}/{message.partition}"


def dead_letter(message: Message, error: RecordError) -> DeadLetter:
    raw = message.value.decode("utf-8", errors="replace")
    return DeadLetter.of(
        error, source=source_of(message), format=FORMAT, position=message.offset, raw=mask_pans(raw)
    )


def tokenised(tx: Transaction, tokenizer: CardTokenizer) -> Transaction:
    """`tx` with its card number (if it carries one) replaced by the token, BIN and last four."""
    card = tx.card
    if card is None or card.number is None:
        return tx
    return msgspec.structs.replace(tx, card=tokenizer.card_from_number(card.number))


def decode_batch(
    messages: list[Message], tokenizer: CardTokenizer, handed_over: Callable[[Message], bool]
) -> Decoded:
    """The batch's events; `handed_over` is the consumer's (`bus.Consumer.handed_over`)."""
    out = Decoded()
    for message in messages:
        try:
            event = decode_event(message.value)
            if isinstance(event, Transaction):
                out.transactions.append(tokenised(event, tokenizer))
                out.timestamps_ms.append(message.timestamp_ms)
                out.handed_over.append(handed_over(message))
            elif isinstance(event, Label):
                out.labels.append(event)
            else:
                out.logins.append(event)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            out.dead.append((message, dead_letter(message, from_validation_error(exc))))
        except RecordError as exc:
            out.dead.append((message, dead_letter(message, exc)))
    return out
