"""The scoring service over a store with history: warm-up replays the recent past into the
features, and a restarted service answers a retried transaction with its stored decision."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fraudwatch.bootstrap import Container, bootstrap
from fraudwatch.decisions.model import Outcome
from fraudwatch.events.model import Card, Transaction, content_hash
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.rules import Action, Rule, RuleSet, vocabulary
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import load_settings
from fraudwatch.storage.model import WriteBatch
from tests.conftest import make_transaction

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)  # long ago: warm-up counts back from the data


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    for name in list(__import__("os").environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    container = bootstrap(load_settings(home=tmp_path / "home"))
    yield container
    container.close()


def _tx(i: int, hours: float, card: str = "a") -> Transaction:
    return make_transaction(
        transaction_id=f"h-{i}",
        event_time=T0 + timedelta(hours=hours),
        amount=Decimal("30.00"),
        card=Card(token="tok_" + card * 32),
    )


def test_warm_up_replays_history_and_retries_get_the_stored_decision(app: Container) -> None:
    history = [_tx(i, hours=i) for i in range(3)] + [_tx(9, hours=-24 * 40, card="b")]
    app.store.write(WriteBatch(transactions=[(tx, content_hash(tx)) for tx in history]))
    app.control.save_draft(
        RuleSet(1, (Rule("fourth_in_7d", "tx_count_7d_by_card >= 4", Action.REVIEW),)), by="t"
    )
    app.control.publish(1, vocabulary(default_feature_set()), by="t")

    service = ScoringService(app)
    assert service.warm_up(30) == 3  # the 40-day-old transaction is outside the window
    fresh = service.score([_tx(10, hours=5)])[0]
    assert fresh.outcome is Outcome.REVIEW and fresh.rules_hit == ["fourth_in_7d"]
    assert service.writer.flush(10)
    service.close()

    restarted = ScoringService(app)
    restarted.warm_up(30)
    again = restarted.score([_tx(10, hours=5)])[0]  # a client retry after the restart
    assert again == fresh
    replayed = restarted.score([_tx(1, hours=1)])[0]  # known from history, never decided
    assert replayed.transaction_id == "h-1"
    restarted.close()


def test_a_retry_gets_the_decision_kept_in_memory_which_the_collector_does_not_scan(
    app: Container,
) -> None:
    service = ScoringService(app)
    first = service.score([_tx(1, hours=1), _tx(2, hours=2)])
    # The store has not seen them necessarily: the answer comes from memory, whole.
    assert service.score([_tx(2, hours=2), _tx(1, hours=1)]) == [first[1], first[0]]
    assert service.decision("h-1") == first[0]
    kept = list(service._recent.values())
    assert len(kept) == 2 and not any(gc.is_tracked(value) for value in kept)
    service.close()
