"""A block decision made through the API raises an alert, delivered to a local webhook."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fraudwatch.api.app import create_app
from fraudwatch.bootstrap import bootstrap
from fraudwatch.control.repository import Role
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import load_settings
from tests.receivers import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_block_decision_alerts_the_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    for name in list(os.environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    settings = load_settings(
        home=tmp_path / "home",
        warmup_days=0,
        alert_channels={"hook": {"type": "webhook", "url": f"{receiver.url}/a", "secret": "s"}},
        alert_routes=[{"name": "blocks", "channels": ["hook"], "outcomes": ["block"]}],
    )
    app = bootstrap(settings)
    _, token = app.control.create_api_key(role=Role.SERVICE, name="gw", by="test")
    app.control.add_to_list("blocked_cards", ["tok_" + "d" * 32], by="test")
    service = ScoringService(app)  # the starter rules block listed cards
    body = {
        "transaction_id": "tx-blocked", "event_time": "2026-03-01T10:00:00Z", "amount": "12.00",
        "currency": "EUR", "card": {"token": "tok_" + "d" * 32},
    }  # fmt: skip
    with TestClient(create_app(service, poll_s=0.1)) as client:
        decision = client.post(
            "/v1/transactions/score", json=body, headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert decision["outcome"] == "block" and decision["rules_hit"] == ["blocked_card"]
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    app.close()
    assert len(receiver.requests) == 1
    sent = json.loads(receiver.requests[0]["body"])
    assert sent["transaction_id"] == "tx-blocked" and sent["outcome"] == "block"
