"""The dashboard's aggregates, from the rollups the projector keeps, against figures worked out
by hand from `seed.ROWS`; on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fraudwatch.analytics import aggregates
from fraudwatch.analytics.projector import Projector
from fraudwatch.analytics.views import Window
from fraudwatch.decisions.model import Outcome
from fraudwatch.events.model import Channel, LabelSource, content_hash
from fraudwatch.storage import EventStore, WriteBatch
from fraudwatch.storage import tables as t
from tests.analytics.seed import T0, Row, label, seed

ALL = Window(since=T0 - timedelta(days=1), until=T0 + timedelta(days=3))


@pytest.fixture
def projected(store: EventStore) -> EventStore:
    seed(store)
    assert Projector(store.engine).catch_up() > 0
    return store


def test_summary_counts_outcomes_fraud_and_money(projected: EventStore) -> None:
    with projected.engine.connect() as conn:
        s = aggregates.summary(conn, ALL)
    assert s.decisions == 6
    assert s.by_outcome.model_dump() == {"approve": 2, "review": 1, "step_up": 1, "block": 2}
    assert s.flagged_rate == pytest.approx(4 / 6)
    assert (s.labelled_fraud, s.fraud_caught, s.fraud_missed) == (3, 2, 1)
    assert s.fraud_caught_amount == pytest.approx(500.0)
    assert s.fraud_missed_amount == pytest.approx(50.0)
    assert s.blocked_amount == pytest.approx(380.0)
    assert s.false_positives == 2  # tx-5 (labelled legitimate) and tx-6 (unlabelled)
    assert s.latency_ms.p50 == pytest.approx(3.0, rel=0.05)  # totals 2 2 3 3 4 5
    assert s.latency_ms.p99 == pytest.approx(5.0, rel=0.05)
    assert s.throughput_per_s == pytest.approx(1 / 60)  # only tx-6 in its last minute
    assert s.rollups_until == T0 + timedelta(days=1, seconds=1)  # tx-6 was decided then


def test_default_window_is_the_week_up_to_the_newest_decision(projected: EventStore) -> None:
    with projected.engine.connect() as conn:
        span = aggregates.window(conn, None, None)
    assert span.until == T0 + timedelta(days=1, hours=1)
    assert span.since == span.until - timedelta(days=7)


def test_geo_trends_and_breakdowns(projected: EventStore) -> None:
    with projected.engine.connect() as conn:
        geo = {g.country: g for g in aggregates.geo(conn, ALL, "merchant")}
        customer = {g.country: g.decisions for g in aggregates.geo(conn, ALL, "customer")}
        hourly = aggregates.trends(conn, ALL, "hour")
        daily = aggregates.trends(conn, ALL, "day")
        scenario = {b.key: b for b in aggregates.breakdown(conn, ALL, "scenario", 20)}
        mcc = aggregates.breakdown(conn, ALL, "mcc", 1)
        outcome = {b.key: b.decisions for b in aggregates.breakdown(conn, ALL, "outcome", 20)}
    de, fr, us = geo["DE"], geo["FR"], geo["US"]
    assert (de.decisions, de.flagged, de.blocked, de.fraud, de.fraud_amount) == (3, 2, 1, 1, 200)
    assert (fr.decisions, fr.flagged, fr.blocked, fr.fraud, fr.fraud_amount) == (2, 1, 1, 2, 350)
    assert (us.decisions, us.flagged, us.blocked, us.fraud) == (1, 1, 0, 0)
    assert customer == {"DE": 3, "FR": 2, "US": 1}
    assert [(h.start, h.decisions, h.fraud) for h in hourly] == [
        (T0, 3, 2), (T0 + timedelta(hours=1), 2, 1), (T0 + timedelta(days=1), 1, 0),
    ]  # fmt: skip
    first = hourly[0]
    assert (first.approve, first.review, first.block, first.blocked_amount) == (1, 1, 1, 300)
    assert [(d.start, d.decisions) for d in daily] == [
        (T0.replace(hour=0), 5),
        (T0.replace(hour=0) + timedelta(days=1), 1),
    ]
    assert scenario["card_testing"].decisions == 2 and scenario["card_testing"].fraud == 2
    assert scenario["account_takeover"].fraud_amount == 300
    assert scenario[""].decisions == 3 and scenario[""].fraud == 0
    assert [(m.key, m.decisions, m.fraud_rate) for m in mcc] == [("5411", 3, pytest.approx(1 / 3))]
    assert outcome == {"approve": 2, "review": 1, "step_up": 1, "block": 2}


def test_rules_and_model_performance(projected: EventStore) -> None:
    with projected.engine.connect() as conn:
        rules = {r.rule: r for r in aggregates.rules(conn, ALL, {"big": "review"})}
        models = aggregates.model_performance(conn, ALL, "day")
    big = rules["big"]
    assert (big.hits, big.fraud_caught, big.action) == (3, 2, "review")
    assert big.precision == pytest.approx(2 / 3) and big.hit_rate == pytest.approx(3 / 6)
    assert rules["velocity"].precision == 1.0 and rules["velocity"].action is None
    shadow = rules["new_rule"]
    assert (shadow.hits, shadow.shadow_hits, shadow.precision) == (0, 2, None)
    day1, day2 = models
    assert (day1.model_version, day1.decisions, day1.labelled, day1.fraud) == ("v1", 5, 4, 3)
    assert day1.precision == pytest.approx(2 / 3) and day1.recall == pytest.approx(2 / 3)
    # by score: 0.95 F, 0.70 G, 0.45 F, 0.10 F, 0.05 G -> (1 + 2/3 + 3/4) / 3
    assert day1.average_precision == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert (day2.model_version, day2.precision, day2.recall, day2.average_precision) == (
        "v2", 0.0, None, None,
    )  # fmt: skip


def test_score_histogram_and_drift(projected: EventStore) -> None:
    with projected.engine.connect() as conn:
        h = aggregates.scores(conn, ALL, 20, None)
        same = aggregates.scores(conn, ALL, 20, ALL)
        with pytest.raises(aggregates.BadQuery, match="bins"):
            aggregates.scores(conn, ALL, 7, None)
    assert len(h.edges) == 21 and h.edges[1] == 0.05
    fraud_bins = [i for i, n in enumerate(h.fraud) if n]
    assert fraud_bins == [2, 9, 19] and h.genuine[14] == 1
    assert h.unlabelled[1] == 1 and h.unlabelled[18] == 1 and sum(h.unlabelled) == 2
    assert same.psi == pytest.approx(0.0)
    assert h.reference is not None and h.reference.since == T0
    day2 = Window(since=T0 + timedelta(days=1), until=T0 + timedelta(days=2))
    with projected.engine.connect() as conn:
        nothing_then = Window(since=T0 - timedelta(days=30), until=T0 - timedelta(days=29))
        fallback = aggregates.scores(conn, day2, 20, nothing_then)
    assert fallback.reference is not None and fallback.reference.since == T0  # first week
    # day 2 holds only tx-6 (bin 18): p = 1/6 there in the reference, q = 1
    expected = (1 - 1 / 6) * math.log(6) + 5 * (1e-4 - 1 / 6) * math.log(1e-4 * 6)
    assert fallback.psi == pytest.approx(expected)


def test_labels_arriving_later_move_the_figures_once(projected: EventStore) -> None:
    projector = Projector(projected.engine)
    later = [
        label("tx-6", True, "card_testing", days=6),  # unlabelled -> fraud
        label("tx-2", False, None, days=9, source=LabelSource.ANALYST),  # fraud -> legitimate
    ]
    projected.write(WriteBatch(labels=[(x, content_hash(x)) for x in later]))
    projector.catch_up()
    projector.catch_up()  # nothing new: nothing counted twice
    with projected.engine.connect() as conn:
        s = aggregates.summary(conn, ALL)
        scenario = {b.key: b.decisions for b in aggregates.breakdown(conn, ALL, "scenario", 20)}
        facts = conn.execute(select(func.count()).select_from(t.dash_facts)).scalar()
    assert s.decisions == 6 and facts == 6
    assert (s.labelled_fraud, s.fraud_caught, s.fraud_missed) == (3, 2, 1)  # tx-3, tx-6; tx-4
    assert s.fraud_caught_amount == pytest.approx(380.0)
    assert s.false_positives == 2  # tx-2 and tx-5
    assert scenario == {"card_testing": 2, "account_takeover": 1, "": 3}


def test_a_restarted_projector_resumes_from_its_cursor(store: EventStore) -> None:
    seed(store)
    Projector(store.engine, page=2).catch_up()
    assert Projector(store.engine).catch_up() == 0  # a new process: nothing left to do
    with store.engine.connect() as conn:
        assert aggregates.summary(conn, ALL).decisions == 6


def test_a_decision_written_after_later_ones_is_swept_in(store: EventStore) -> None:
    seed(store)
    projector = Projector(store.engine, sweep_s=0.0, lag_s=3600.0)
    projector.catch_up()
    # decided before the newest decision (tx-6) but stored only now: behind the cursor
    late = Row("tx-late", 24 * 60 - 30, "10.00", "SE", "SE", "5411", Channel.ECOMMERCE,
               Outcome.APPROVE, 0.01, (), (), 1.0, "v2", None)  # fmt: skip
    seed(store, (late,))
    projector.catch_up()
    with store.engine.connect() as conn:
        geo = {g.country: g.decisions for g in aggregates.geo(conn, ALL, "merchant")}
        assert aggregates.summary(conn, ALL).decisions == 7
    assert geo["SE"] == 1
