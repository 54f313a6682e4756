"""Alerts on both databases, delivered for real to local receivers: an SMTP server (aiosmtpd)
and HTTP servers standing in for Slack, Twilio and a webhook — including one that fails for a
while and recovers, and none is lost."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import select

from fraudwatch.alerts.config import Email, Route, SlackApi, SlackWebhook, TwilioSms, Webhook
from fraudwatch.alerts.dispatcher import AlertDispatcher, AlertRouter
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.events.model import Card, Merchant, Transaction
from fraudwatch.storage import EventStore, WriteBatch
from fraudwatch.storage import tables as t
from tests.conftest import make_transaction
from tests.receivers import Mailbox, Receiver

T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


def _channels(receiver: Receiver, smtp_port: int) -> dict[str, Any]:
    return {
        "slack": SlackWebhook(url=SecretStr(f"{receiver.url}/services/T000/B000/XXXX")),
        "slack_bot": SlackApi(
            token=SecretStr("xoxb-test"), channel="#fraud", base_url=f"{receiver.url}/api"
        ),
        "sms": TwilioSms(
            account_sid="AC123",
            auth_token=SecretStr("secret-token"),
            from_number="+15550000000",
            to_numbers=["+15551111111"],
            base_url=receiver.url,
        ),
        "hook": Webhook(url=f"{receiver.url}/hooks/fraud", secret=SecretStr("hook-secret")),
        "mail": Email(
            host="127.0.0.1",
            port=smtp_port,
            starttls=False,
            sender="fraudwatch@bank.test",
            recipients=["fraud-team@bank.test"],
        ),
    }


def _decided(i: int, outcome: Outcome, amount: str = "950.00") -> tuple[Transaction, Decision]:
    tx = make_transaction(
        transaction_id=f"tx-{i}", event_time=T0 + timedelta(minutes=i), amount=Decimal(amount),
        card=Card(token="tok_" + "a" * 32, bin="411111", last4="1111"),
        merchant=Merchant(id="m-9", country="NL"),
    )  # fmt: skip
    decision = Decision(
        transaction_id=tx.transaction_id, event_time=tx.event_time,
        decided_at=tx.event_time + timedelta(milliseconds=2), outcome=outcome, risk_score=0.97,
        rules_hit=["blocked_card"], reasons=["rule blocked_card"],
    )  # fmt: skip
    return tx, decision


ROUTES = [
    Route(
        name="blocks", channels=["slack", "slack_bot", "sms", "hook", "mail"], outcomes=["block"]
    ),
    Route(name="big reviews", channels=["mail"], outcomes=["review"], min_amount=Decimal("500")),
]


def _outbox(store: EventStore) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(t.alert_outbox).order_by(t.alert_outbox.c.id)).all())


def test_alerts_are_stored_with_decisions_and_delivered_to_every_channel(
    store: EventStore, receiver: Receiver, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    channels = _channels(receiver, port)
    router = AlertRouter(ROUTES, channels)
    receiver.replies["/api/chat.postMessage"] = (200, {"ok": True, "ts": "1700000000.1"})
    receiver.replies["/2010-04-01/Accounts/AC123/Messages.json"] = (201, {"sid": "SM1"})
    pairs = [
        _decided(1, Outcome.BLOCK),
        _decided(2, Outcome.REVIEW, "40.00"),
        _decided(3, Outcome.REVIEW),
    ]
    batch = WriteBatch(decisions=[d for _, d in pairs])
    batch.alerts = [a for tx, d in pairs for a in router.alerts(tx, d)]
    store.write(batch)
    store.write(batch)  # a replay stores nothing twice
    assert [(r.transaction_id, r.channel) for r in _outbox(store)] == [
        ("tx-1", "slack"), ("tx-1", "slack_bot"), ("tx-1", "sms"), ("tx-1", "hook"),
        ("tx-1", "mail"), ("tx-3", "mail"),
    ]  # fmt: skip

    dispatcher = AlertDispatcher(store.engine, channels)
    assert dispatcher.run_once() == 6
    assert dispatcher.counts() == {"sent": 6}
    by_path = {r["path"]: r for r in receiver.requests}
    slack = json.loads(by_path["/services/T000/B000/XXXX"]["body"])
    assert slack["text"].startswith("BLOCK tx-1: risk 0.97, 950.00 EUR at m-9 (NL)")
    assert slack["blocks"][0]["type"] == "section"
    bot = by_path["/api/chat.postMessage"]
    assert bot["headers"]["Authorization"] == "Bearer xoxb-test"
    assert json.loads(bot["body"])["channel"] == "#fraud"
    sms = by_path["/2010-04-01/Accounts/AC123/Messages.json"]
    assert (
        sms["headers"]["Authorization"]
        == "Basic " + base64.b64encode(b"AC123:secret-token").decode()
    )
    form = parse_qs(sms["body"].decode())
    assert form["To"] == ["+15551111111"] and form["From"] == ["+15550000000"]
    assert form["Body"][0].startswith("BLOCK tx-1")
    hook = by_path["/hooks/fraud"]
    signed = hook["headers"]["X-Fraudwatch-Timestamp"].encode() + b"." + hook["body"]
    expected = hmac.new(b"hook-secret", signed, hashlib.sha256).hexdigest()
    assert hook["headers"]["X-Fraudwatch-Signature"] == f"sha256={expected}"
    assert json.loads(hook["body"])["card_last4"] == "1111"
    assert b"4111111111111111" not in b"".join(r["body"] for r in receiver.requests)
    assert sorted(m.rcpt_tos[0] for m in mailbox.messages) == ["fraud-team@bank.test"] * 2
    assert b"Subject: [fraudwatch] BLOCK tx-1" in mailbox.messages[0].content


def test_a_receiver_that_is_down_for_a_while_loses_nothing(
    store: EventStore, receiver: Receiver, smtp: tuple[Mailbox, int]
) -> None:
    channels = {"hook": _channels(receiver, smtp[1])["hook"]}
    router = AlertRouter([Route(name="all", channels=["hook"], outcomes=["block"])], channels)
    pairs = [_decided(i, Outcome.BLOCK) for i in range(3)]
    store.write(
        WriteBatch(
            decisions=[d for _, d in pairs],
            alerts=[a for tx, d in pairs for a in router.alerts(tx, d)],
        )
    )
    receiver.fail = 7  # the first seven requests get 503
    dispatcher = AlertDispatcher(store.engine, channels, base_delay_s=1.0)
    now = datetime.now(UTC)
    for step in range(8):  # each round is after every backoff so far
        dispatcher.run_once(now + timedelta(seconds=10 * 2**step))
    assert dispatcher.counts() == {"sent": 3}
    delivered = {json.loads(r["body"])["transaction_id"] for r in receiver.requests[7:]}
    assert delivered == {"tx-0", "tx-1", "tx-2"}
    with store.engine.connect() as conn:
        log = conn.execute(select(t.alert_deliveries.c.ok)).all()
    assert len(log) == 10 and sum(1 for (ok,) in log if ok) == 3


def test_a_refused_alert_fails_without_retrying(store: EventStore, receiver: Receiver) -> None:
    channels = {"hook": Webhook(url=f"{receiver.url}/gone", secret=SecretStr("s"))}
    receiver.replies["/gone"] = (404, {"error": "no such hook"})
    router = AlertRouter([Route(name="all", channels=["hook"])], channels)
    tx, decision = _decided(1, Outcome.BLOCK)
    store.write(WriteBatch(decisions=[decision], alerts=router.alerts(tx, decision)))
    dispatcher = AlertDispatcher(store.engine, channels)
    dispatcher.run_once()
    assert dispatcher.counts() == {"failed": 1}
    assert "HTTP 404" in _outbox(store)[0].last_error


def test_routes_must_name_configured_channels() -> None:
    with pytest.raises(ValueError, match="unknown channels: pager"):
        AlertRouter([Route(name="x", channels=["pager"])], {})
