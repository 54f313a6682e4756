"""Decisions in the store: written in batches, idempotent per transaction, read back whole."""

from __future__ import annotations

from datetime import timedelta

from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.storage import EventStore, WriteBatch
from tests.storage.conftest import BASE_TIME


def _decision(index: int, outcome: Outcome = Outcome.REVIEW, **overrides: object) -> Decision:
    fields: dict[str, object] = {
        "transaction_id": f"tx-{index}",
        "event_time": BASE_TIME + timedelta(days=40 * index),  # several monthly partitions
        "decided_at": BASE_TIME + timedelta(days=40 * index, milliseconds=3),
        "outcome": outcome,
        "risk_score": 0.4375,
        "model_score": 0.125,
        "anomaly_score": 0.5,
        "model_version": "fraud-lgbm/3",
        "ruleset_version": "7",
        "rules_hit": ["big_foreign"],
        "shadow_hits": ["trial"],
        "reasons": ["amount 9x the customer's usual", "rule big_foreign"],
        "latency_ms": {"features": 0.21, "model": 0.05, "total": 0.4},
    }
    fields.update(overrides)
    return Decision(**fields)  # type: ignore[arg-type]


def test_decisions_round_trip_and_the_first_one_wins(store: EventStore) -> None:
    first = [_decision(i) for i in range(3)]
    store.write(WriteBatch(decisions=first))
    for decision in first:
        assert store.get_decision(decision.transaction_id) == decision
    store.write(WriteBatch(decisions=[_decision(0, Outcome.BLOCK), _decision(3, Outcome.APPROVE)]))
    assert store.get_decision("tx-0") == first[0]  # a replayed decision does not overwrite
    assert store.get_decision("tx-3") is not None
    assert store.get_decision("tx-3").outcome is Outcome.APPROVE  # type: ignore[union-attr]
    assert store.get_decision("nope") is None


def test_a_rules_only_decision_has_no_model_fields(store: EventStore) -> None:
    decision = _decision(
        5, Outcome.BLOCK, model_score=None, anomaly_score=None, model_version=None, late=True
    )
    store.write(WriteBatch(decisions=[decision]))
    assert store.get_decision("tx-5") == decision
