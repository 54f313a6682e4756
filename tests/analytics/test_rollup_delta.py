"""`rollup.add` (what the projector runs for every decision) is `rollup.contributions` summed:
the readable definition and the fast one agree, for every label, outcome, rule mix and sign."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from fraudwatch.analytics.rollup import (
    UNLABELLED,
    Delta,
    Fact,
    LabelState,
    add,
    contributions,
    new_delta,
    relabel,
)

LABELS = [UNLABELLED, LabelState(False), LabelState(True, "card_testing"), LabelState(True)]


def _facts(n: int) -> list[Fact]:
    rng = random.Random(11)
    rules = ["velocity", "new_device", "blocked_card", "geo_jump"]
    out = []
    for i in range(n):
        fired = tuple(rng.sample(rules, rng.randint(0, 2)))
        shadow = tuple(rng.sample(rules, rng.randint(0, 2)))  # may overlap with fired
        out.append(
            Fact(
                transaction_id=f"f-{i}",
                event_time=datetime(2026, 5, 1, tzinfo=UTC) + timedelta(minutes=17 * i),
                outcome=rng.choice(["approve", "review", "step_up", "block"]),
                risk_score=rng.random(),
                model_version=rng.choice([None, "m/1", "m/2"]),
                fired=fired,
                shadow=shadow,
                latency_total_ms=rng.choice([None, rng.uniform(0.01, 80)]),
                amount=round(rng.uniform(0, 900), 2),
                merchant_country=rng.choice([None, "DE", "FR"]),
                billing_country=rng.choice([None, "DE", "US"]),
                mcc=rng.choice([None, "5411", "7995"]),
                channel=rng.choice([None, "ecom", "pos"]),
            )
        )
    return out


def _summed(pairs: list[tuple[Fact, LabelState, float]]) -> Delta:
    delta: Delta = {}
    for fact, label, sign in pairs:
        for row, measures in contributions(fact, label).items():
            current = delta.setdefault(row, [0.0] * len(measures))
            for i, value in enumerate(measures):
                current[i] += sign * value
    return delta


def _clean(delta: Delta) -> dict[object, list[float]]:
    return {row: [round(v, 9) for v in values] for row, values in delta.items() if any(values)}


def test_add_equals_the_contributions_summed() -> None:
    facts = _facts(300)
    pairs = [
        (fact, label, sign)
        for fact, (label, sign) in zip(
            facts, itertools.cycle(itertools.product(LABELS, (1.0, -1.0))), strict=False
        )
    ]
    fast = new_delta()
    for fact, label, sign in pairs:
        add(fast, fact, label, sign)
    assert _clean(fast) == _clean(_summed(pairs))
    assert len(_clean(fast)) > 100  # the comparison covers many rollup rows


def test_a_relabel_moves_a_decision_between_label_classes() -> None:
    fact = _facts(1)[0]
    delta = new_delta()
    add(delta, fact, UNLABELLED)
    relabel(delta, fact, UNLABELLED, LabelState(True, "card_testing"))
    assert _clean(delta) == _clean(_summed([(fact, LabelState(True, "card_testing"), 1.0)]))
