"""Fixtures of the streaming tests: a fresh embedded deployment, canonical events as messages,
a throwaway Tansu broker (once per session) for the tests against a real broker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fraudwatch.bootstrap import Container, bootstrap
from fraudwatch.events.model import Card, Event, encode
from fraudwatch.settings import load_settings
from tests.conftest import make_transaction

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clean_environment(monkeypatch)
    return tmp_path / "home"


@pytest.fixture
def container(home: Path) -> Iterator[Container]:
    app = bootstrap(load_settings(home=home, warmup_days=0))
    yield app
    app.close()


def transactions(count: int, *, cards: int = 7, prefix: str = "tx") -> list[Any]:
    """`count` valid transactions over `cards` cards, a minute apart."""
    return [
        make_transaction(
            transaction_id=f"{prefix}-{i:05d}",
            event_time=T0 + timedelta(minutes=i),
            amount=Decimal(10 + i % 90),
            card=Card(token=f"tok_{i % cards:032d}", bin="411111", last4="1111"),
            customer_id=f"cust-{i % cards}",
        )
        for i in range(count)
    ]


def keyed(event: Event) -> tuple[bytes, bytes]:
    """(card token, canonical JSON): a transaction on the topic (sorted keys, `type` among them;
    the load producer puts `type` first: `stream.load`)."""
    card = getattr(event, "card", None)
    key = card.token if card is not None and card.token else "none"
    return key.encode(), encode(event)


@pytest.fixture(scope="session")
def tansu() -> Iterator[str]:
    """A real broker: FRAUDWATCH_TEST_KAFKA_BOOTSTRAP, else a throwaway Tansu. Skipped when
    neither is available, except in CI (`CI=true`), where that is a failure."""
    configured = os.environ.get("FRAUDWATCH_TEST_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    from fraudwatch.devtools.kafka import KafkaUnavailable, throwaway_tansu

    try:
        server = throwaway_tansu()
        bootstrap_servers = server.__enter__()
    except KafkaUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Kafka broker needed in CI: {exc}")
        pytest.skip(str(exc))
    try:
        yield bootstrap_servers
    finally:
        server.__exit__(None, None, None)
