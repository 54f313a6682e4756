"""Step-up: a stepped-up transaction gets a code by SMS (a local Twilio stand-in) or email (a
local SMTP server), or asks the customer's passkey (a software authenticator with a real key);
the right answer approves it, five wrong ones block it; both become labels."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import update

from fraudwatch.api.app import create_app
from fraudwatch.bootstrap import bootstrap
from fraudwatch.control.repository import Role
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.rules import Action, Rule, RuleSet, vocabulary
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import load_settings
from fraudwatch.storage import tables as t
from tests.api.authenticator import SoftwareAuthenticator
from tests.receivers import Mailbox, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.replies["/2010-04-01/Accounts/AC1/Messages.json"] = (201, {"sid": "SM1"})
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


@pytest.fixture
def client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver, smtp: tuple[Mailbox, int]
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    for name in list(os.environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    settings = load_settings(
        home=tmp_path / "home",
        warmup_days=0,
        alert_channels={
            "sms": {
                "type": "twilio",
                "account_sid": "AC1",
                "auth_token": "t",
                "from_number": "+15550000000",
                "to_numbers": ["+15559999999"],
                "base_url": receiver.url,
            },
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp[1],
                "starttls": False,
                "sender": "verify@bank.test",
                "recipients": ["ops@bank.test"],
            },
        },
        step_up_channels={"sms": "sms", "email": "mail"},
    )
    app = bootstrap(settings)
    _, token = app.control.create_api_key(role=Role.SERVICE, name="checkout", by="t")
    app.control.save_draft(RuleSet(1, (Rule("big", "amount > 500", Action.STEP_UP),)), by="t")
    app.control.publish(1, vocabulary(default_feature_set()), by="t")
    with TestClient(create_app(ScoringService(app), poll_s=0.1)) as test_client:
        yield test_client, {"Authorization": f"Bearer {token}"}
    app.close()


def _score(client: TestClient, headers: dict[str, str], i: int) -> dict[str, Any]:
    body = {
        "transaction_id": f"tx-{i}", "event_time": "2026-03-01T10:00:00Z", "amount": "900.00",
        "currency": "EUR", "card": {"token": "tok_" + "e" * 32},
    }  # fmt: skip
    decision: dict[str, Any] = client.post(
        "/v1/transactions/score", json=body, headers=headers
    ).json()
    return decision


def test_the_right_code_by_sms_approves(
    client: tuple[TestClient, dict[str, str]], receiver: Receiver
) -> None:
    api, headers = client
    assert _score(api, headers, 1)["outcome"] == "step_up"
    sent = api.post(
        "/v1/step-up/tx-1", json={"method": "sms", "destination": "+15551234567"}, headers=headers
    )
    assert sent.status_code == 200 and sent.json()["challenge"] == "sent"
    form = parse_qs(receiver.requests[-1]["body"].decode())
    assert form["To"] == ["+15551234567"]
    code = re.search(r"\b(\d{6})\b", form["Body"][0]).group(1)  # type: ignore[union-attr]
    wrong = api.post(
        "/v1/step-up/tx-1/verify",
        json={"code": "000000" if code != "000000" else "111111"},
        headers=headers,
    )
    assert wrong.json() == {"status": "pending", "final_outcome": None, "attempts_left": 4}
    right = api.post("/v1/step-up/tx-1/verify", json={"code": code}, headers=headers).json()
    assert right["status"] == "passed" and right["final_outcome"] == "approve"
    again = api.post("/v1/step-up/tx-1/verify", json={"code": code}, headers=headers).json()
    assert again["final_outcome"] == "approve"  # settled
    stored = api.get("/v1/decisions/tx-1", headers=headers).json()
    assert (stored["outcome"], stored["final_outcome"]) == ("step_up", "approve")


def test_five_wrong_codes_by_email_block(
    client: tuple[TestClient, dict[str, str]], smtp: tuple[Mailbox, int]
) -> None:
    api, headers = client
    _score(api, headers, 2)
    api.post(
        "/v1/step-up/tx-2",
        json={"method": "email", "destination": "erika@example.org"},
        headers=headers,
    )
    assert b"Your verification code is" in smtp[0].messages[-1].content
    results = [
        api.post("/v1/step-up/tx-2/verify", json={"code": "abcdef"}, headers=headers).json()
        for _ in range(5)
    ]
    assert results[-1] == {"status": "failed", "final_outcome": "block", "attempts_left": 0}


def test_only_stepped_up_transactions_get_a_challenge(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    api, headers = client
    body = {
        "transaction_id": "tx-9",
        "event_time": "2026-03-01T10:00:00Z",
        "amount": "9.00",
        "currency": "EUR",
    }
    assert (
        api.post("/v1/transactions/score", json=body, headers=headers).json()["outcome"]
        == "approve"
    )
    refused = api.post(
        "/v1/step-up/tx-9", json={"method": "sms", "destination": "+1555"}, headers=headers
    )
    assert refused.status_code == 409 and "not step_up" in refused.json()["detail"]
    assert json.loads(refused.text)["status"] == 409


def _score_for(api: TestClient, headers: dict[str, str], tid: str, customer: str) -> None:
    body = {
        "transaction_id": tid, "event_time": "2026-03-01T10:00:00Z", "amount": "900.00",
        "currency": "EUR", "card": {"token": "tok_" + "f" * 32}, "customer_id": customer,
    }  # fmt: skip
    assert api.post("/v1/transactions/score", json=body, headers=headers).json()["outcome"] == (
        "step_up"
    )


def test_the_customers_passkey_approves_and_a_stranger_key_does_not(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    api, headers = client
    phone, stranger = SoftwareAuthenticator(), SoftwareAuthenticator()
    options = api.post("/v1/customers/C42/passkeys/register/options", headers=headers).json()
    registered = api.post(
        "/v1/customers/C42/passkeys/register", json=phone.create(options), headers=headers
    )
    assert registered.status_code == 200, registered.text
    other = api.post("/v1/customers/C7/passkeys/register/options", headers=headers).json()
    api.post("/v1/customers/C7/passkeys/register", json=stranger.create(other), headers=headers)

    _score_for(api, headers, "tx-p1", "C42")
    started = api.post("/v1/step-up/tx-p1", json={"method": "passkey"}, headers=headers)
    assert started.status_code == 200, started.text
    asked = started.json()["options"]
    assert [c["id"] for c in asked["allowCredentials"]] == [phone.id]  # C42's key only
    wrong = api.post(
        "/v1/step-up/tx-p1/verify",
        json={"credential": stranger.get({"challenge": asked["challenge"]})},
        headers=headers,
    ).json()
    assert wrong == {"status": "pending", "final_outcome": None, "attempts_left": 4}
    again = api.post("/v1/step-up/tx-p1", json={"method": "passkey"}, headers=headers).json()
    right = api.post(
        "/v1/step-up/tx-p1/verify",
        json={"credential": phone.get(again["options"])},
        headers=headers,
    ).json()
    assert right == {"status": "passed", "final_outcome": "approve", "attempts_left": 3}
    stored = api.get("/v1/decisions/tx-p1", headers=headers).json()
    assert stored["final_outcome"] == "approve"

    _score_for(api, headers, "tx-p2", "C99")  # no passkey registered
    missing = api.post("/v1/step-up/tx-p2", json={"method": "passkey"}, headers=headers)
    assert missing.status_code == 404 and "no passkey" in missing.json()["detail"]
    no_destination = api.post("/v1/step-up/tx-p2", json={"method": "sms"}, headers=headers)
    assert no_destination.status_code == 422
    assert "destination" in no_destination.json()["detail"]


def test_an_unanswered_challenge_expires_into_block_for_good(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    api, headers = client
    _score(api, headers, 3)
    sms = {"method": "sms", "destination": "+15551234567"}
    assert api.post("/v1/step-up/tx-3", json=sms, headers=headers).status_code == 200
    engine = api.app.state.service.store.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:  # five minutes later
        past = datetime.now(UTC) - timedelta(seconds=1)
        conn.execute(update(t.challenges).values(expires_at=past))
    assert api.get("/v1/decisions/tx-3", headers=headers).json()["final_outcome"] == "block"
    again = api.post("/v1/step-up/tx-3", json=sms, headers=headers)
    assert again.status_code == 409 and "expired already" in again.json()["detail"]
    late = api.post("/v1/step-up/tx-3/verify", json={"code": "123456"}, headers=headers).json()
    assert (late["status"], late["final_outcome"]) == ("expired", "block")
