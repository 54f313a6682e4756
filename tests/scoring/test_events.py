"""DecisionMade events: delivered in order to every subscriber off the writer's thread, a failing
subscriber does not starve the others, memory is bounded, and cases missed by a crash between
storing and delivering are rebuilt from the store at start-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from fraudwatch.bootstrap import Container
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.events.model import content_hash
from fraudwatch.scoring.events import DecisionEvents, DecisionMade
from fraudwatch.scoring.service import ScoringService
from fraudwatch.storage import tables as t
from fraudwatch.storage.model import WriteBatch
from tests.scoring.test_service import T0, _tx, app  # noqa: F401 (the fixture)


def _decision(
    i: int, outcome: Outcome = Outcome.REVIEW, moment: datetime | None = None
) -> Decision:
    moment = moment or T0 + timedelta(minutes=i)
    return Decision(
        transaction_id=f"h-{i}", event_time=moment, decided_at=moment, outcome=outcome,
        risk_score=0.5,
    )  # fmt: skip


def test_every_subscriber_gets_every_batch_in_order_even_when_another_fails() -> None:
    events = DecisionEvents()
    got: list[str] = []

    def broken(batch: Sequence[DecisionMade]) -> None:
        raise RuntimeError("subscriber bug")

    events.subscribe("broken", broken)
    events.subscribe("list", lambda batch: got.extend(d.transaction_id for _, d in batch))
    for start in range(0, 30, 10):
        events.publish([(None, _decision(i)) for i in range(start, start + 10)])
    assert events.flush(10)
    assert got == [f"h-{i}" for i in range(30)]
    assert (events.delivered, events.failures, events.backlog) == (30, 3, 0)
    events.close()


def test_with_no_subscriber_a_batch_is_delivered_at_once_and_later_ones_reach_a_new_one() -> None:
    events = DecisionEvents(capacity=5)
    events.publish([(None, _decision(i)) for i in range(20)])  # over the capacity: no wait
    assert (events.delivered, events.backlog) == (20, 0)
    got: list[str] = []
    events.subscribe("list", lambda batch: got.extend(d.transaction_id for _, d in batch))
    events.publish([(None, _decision(i)) for i in range(20, 23)])
    assert events.flush(10)
    assert got == ["h-20", "h-21", "h-22"] and events.delivered == 23
    events.close()


def test_publishing_waits_when_subscribers_are_behind() -> None:
    events = DecisionEvents(capacity=10)
    release = threading.Event()
    events.subscribe("slow", lambda batch: release.wait(10))
    events.publish([(None, _decision(i)) for i in range(10)])  # being delivered: holds 10
    second = threading.Thread(target=events.publish, args=([(None, _decision(99))],))
    second.start()
    time.sleep(0.3)
    assert second.is_alive() and events.backlog == 10  # bounded: waits, drops nothing
    release.set()
    second.join(10)
    assert not second.is_alive() and events.flush(10) and events.delivered == 11
    events.close()


def test_cases_come_from_events_and_are_rebuilt_after_a_crash(app: Container) -> None:  # noqa: F811
    # Flagged decisions stored, their events never delivered (the process died in between).
    txs = [_tx(i, hours=i) for i in range(3)]
    outcomes = (Outcome.REVIEW, Outcome.BLOCK, Outcome.APPROVE)
    decisions = [_decision(i, o, txs[i].event_time) for i, o in enumerate(outcomes)]
    app.store.write(
        WriteBatch(transactions=[(tx, content_hash(tx)) for tx in txs], decisions=decisions)
    )
    service = ScoringService(app)
    service.warm_up(30)  # start-up: puts the two flagged decisions into their case
    with app.store.engine.connect() as conn:
        members = conn.execute(sa.select(t.case_decisions.c.transaction_id)).scalars().all()
    assert sorted(members) == ["h-0", "h-1"]
    assert service.catch_up_cases(T0 - timedelta(days=1)) == 0  # idempotent
    service.close()
