"""The features a flagged decision was made on are stored with it (for the case page), and
only for flagged decisions; writing them again keeps the first."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from fraudwatch.analytics.decisions import features_of
from fraudwatch.bootstrap import Container, bootstrap
from fraudwatch.decisions.model import Outcome
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.rules import Action, Rule, RuleSet, vocabulary
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import load_settings
from fraudwatch.storage import EventStore, WriteBatch
from tests.scoring.test_service import T0, _tx, app  # noqa: F401 (the fixture)
from tests.storage.conftest import (  # noqa: F401 (fixtures: SQLite and PostgreSQL)
    postgres_database,
    postgres_template,
    postgres_url,
    store,
    store_url,
)


def test_flagged_decisions_keep_their_features_approved_ones_do_not(
    app: Container,  # noqa: F811
) -> None:
    rules = RuleSet(1, (Rule("third_card_use", "tx_count_1h_by_card >= 3", Action.REVIEW),))
    app.control.save_draft(rules, by="t")
    app.control.publish(1, vocabulary(default_feature_set()), by="t")
    service = ScoringService(app)
    decided = service.score([_tx(i, hours=i / 60) for i in range(3)])
    assert [d.outcome for d in decided] == [Outcome.APPROVE, Outcome.APPROVE, Outcome.REVIEW]
    assert service.writer.flush(10)
    with app.store.engine.connect() as conn:
        kept = [features_of(conn, d.transaction_id, d.event_time) for d in decided]
    assert kept[0] is None and kept[1] is None
    assert kept[2] is not None
    assert kept[2]["tx_count_1h_by_card"] == 3.0  # what the rule saw
    assert set(kept[2]) == set(default_feature_set().names)
    service.close()


def test_decision_features_are_written_once(store: EventStore) -> None:  # noqa: F811
    moment = T0 + timedelta(minutes=1)
    store.write(WriteBatch(decision_features=[("t-1", moment, {"a": 1.0, "b": None})]))
    store.write(WriteBatch(decision_features=[("t-1", moment, {"a": 2.0, "b": 3.0})]))
    with store.engine.connect() as conn:
        assert features_of(conn, "t-1", moment) == {"a": 1.0, "b": None}


def test_readiness_answers_on_every_store(
    store_url: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The readiness probe's round trip works on SQLite and PostgreSQL (its key prefix held a
    NUL byte once, which PostgreSQL refuses in text: /readyz said "not ready" for ever)."""
    for name in list(os.environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    container = bootstrap(load_settings(home=home, database_url=store_url))
    try:
        service = ScoringService(container)
        ready = service.ready()
        assert ready["mode"] == "rules_only" and ready["writer_backlog"] == 0
        service.close()
    finally:
        container.close()
