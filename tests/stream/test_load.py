"""The load producer's messages: keyed by card (logins by customer, labels by transaction),
card numbers tokenised, the event's kind first, and an invalid line sent as it is."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from fraudwatch.bootstrap import Container
from fraudwatch.events.model import Card, Label, decode_event, encode
from fraudwatch.stream.load import keyed
from tests.stream.conftest import T0, transactions

VALID_PAN = "4111111111111111"


def test_messages_carry_the_same_events_with_their_type_first(container: Container) -> None:
    tx = msgspec.structs.replace(transactions(1)[0], card=Card(number=VALID_PAN))
    label = Label(
        transaction_id="tx-00000", is_fraud=True, event_time=T0, known_at=T0 + timedelta(days=3)
    )
    lines = [encode(tx), b"", encode(label), b'{"type": "transaction", "amount": "x"}']
    out = list(keyed(lines, container.tokenizer))
    assert [valid for _, valid in out] == [True, True, False]
    (tx_key, tx_message), (label_key, label_message) = (message for message, _ in out[:2])
    sent = decode_event(tx_message)
    token = container.tokenizer.card_from_number(VALID_PAN)
    assert sent == msgspec.structs.replace(tx, card=token) and VALID_PAN.encode() not in tx_message
    assert token.token is not None and tx_key == token.token.encode()
    assert tx_message.startswith(b'{"type":"transaction",')
    assert decode_event(label_message) == label and label_key == b"tx-00000"
    assert label_message.startswith(b'{"type":"label",')
    assert out[2][0] == (None, lines[3])
