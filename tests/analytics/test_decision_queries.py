"""The decision, timeline and feed queries on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fraudwatch.analytics import cursors, decisions
from fraudwatch.analytics.decisions import DecisionFilter
from fraudwatch.analytics.timeline import transactions_of
from fraudwatch.storage import EventStore
from tests.analytics.seed import ROWS, T0, seed


@pytest.fixture
def seeded(store: EventStore) -> EventStore:
    seed(store)
    return store


def _all(store: EventStore, where: DecisionFilter, limit: int) -> list[str]:
    ids: list[str] = []
    after = None
    with store.engine.connect() as conn:
        while True:
            items, after = decisions.newest(conn, where, limit=limit, after=after)
            ids.extend(item.transaction_id for item in items)
            if after is None:
                return ids


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (DecisionFilter(), ["tx-6", "tx-5", "tx-4", "tx-3", "tx-2", "tx-1"]),
        (DecisionFilter(outcome=("block", "review", "step_up")), ["tx-6", "tx-5", "tx-3", "tx-2"]),
        (DecisionFilter(min_amount=100, max_amount=300, country="DE"), ["tx-2", "tx-1"]),
        (DecisionFilter(merchant="Shop F", channel="card_present"), ["tx-4", "tx-3"]),
        (DecisionFilter(scenario="account_takeover"), ["tx-3"]),
        (DecisionFilter(max_score=0.2, since=T0 + timedelta(minutes=5)), ["tx-4"]),
    ],
)
def test_pages_hold_every_match_once(
    seeded: EventStore, where: DecisionFilter, expected: list[str]
) -> None:
    for limit in (1, 2, 50):
        assert _all(seeded, where, limit) == expected


def test_feed_reads_what_was_decided_after_a_cursor(seeded: EventStore) -> None:
    with seeded.engine.connect() as conn:
        start = cursors.encode(T0 + timedelta(minutes=15), "")
        items, moved = decisions.decided_after(conn, DecisionFilter(outcome=("approve",)), start,
                                               limit=3)  # fmt: skip
        again, _ = decisions.decided_after(conn, DecisionFilter(), moved, limit=10)
        assert decisions.tail_start(conn) == cursors.encode(
            T0 + timedelta(days=1, seconds=1), "tx-6"
        )
    assert [view.transaction_id for _, view in items] == ["tx-4"]  # of tx-3, tx-4, tx-5
    assert [view.transaction_id for _, view in again] == ["tx-6"]


def test_timeline_and_one(seeded: EventStore) -> None:
    with seeded.engine.connect() as conn:
        items, following = transactions_of(
            conn, card_token="tok_" + "a" * 32, customer_id=None, limit=3, after=None
        )
        rest, last = transactions_of(
            conn, card_token="tok_" + "a" * 32, customer_id=None, limit=3, after=following
        )
        found = decisions.one(conn, "tx-4")
    assert [i.transaction_id for i in items + rest] == ["tx-6", "tx-4", "tx-2", "tx-1"]
    assert last is None and items[1].label is not None and items[1].label.is_fraud
    assert found is not None and found[0].amount == float(ROWS[3].amount)
