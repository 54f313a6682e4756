"""The policy: thresholds on the combined risk, rule actions only ever make an outcome stronger."""

from __future__ import annotations

import math

import pytest

from fraudwatch.decisions.model import Outcome
from fraudwatch.decisions.policy import PolicyError, Thresholds, decide
from fraudwatch.rules import Action, RuleHits

NONE = RuleHits((), (), 0.0, None)
T = Thresholds(review=0.3, step_up=0.6, block=0.9)


@pytest.mark.parametrize(
    ("risk", "outcome"),
    [
        (0.0, Outcome.APPROVE),
        (0.29, Outcome.APPROVE),
        (0.3, Outcome.REVIEW),
        (0.6, Outcome.STEP_UP),
        (0.89, Outcome.STEP_UP),
        (0.9, Outcome.BLOCK),
        (1.0, Outcome.BLOCK),
    ],
)
def test_thresholds_start_each_outcome(risk: float, outcome: Outcome) -> None:
    assert decide(T, risk, NONE).outcome is outcome


def test_rule_weights_add_points_of_risk_and_actions_only_raise() -> None:
    weighted = RuleHits(("a",), (), 30.0, Action.TAG)
    verdict = decide(T, 0.65, weighted)
    assert verdict.risk == pytest.approx(0.95) and verdict.outcome is Outcome.BLOCK
    assert not verdict.by_rule
    blocking = RuleHits(("blocked_card",), (), 0.0, Action.BLOCK)
    assert decide(T, 0.01, blocking).outcome is Outcome.BLOCK
    assert decide(T, 0.01, blocking).by_rule
    reviewing = RuleHits(("r",), (), 0.0, Action.REVIEW)
    assert decide(T, 0.95, reviewing).outcome is Outcome.BLOCK  # a review rule never lowers


def test_without_a_model_rules_alone_decide() -> None:
    assert decide(T, None, NONE).outcome is Outcome.APPROVE
    assert decide(T, math.nan, RuleHits(("x",), (), 60.0, Action.TAG)).outcome is Outcome.STEP_UP
    assert decide(T, None, RuleHits(("x",), (), -500.0, Action.TAG)).risk == 0.0


def test_shadow_hits_never_act() -> None:
    shadow_only = RuleHits((), ("trial",), 0.0, None)
    assert decide(T, 0.1, shadow_only).outcome is Outcome.APPROVE


@pytest.mark.parametrize(
    ("review", "step_up", "block"), [(0.5, 0.4, 0.9), (-0.1, 0.5, 0.9), (0.1, 0.5, 1.5)]
)
def test_impossible_thresholds_are_refused(review: float, step_up: float, block: float) -> None:
    with pytest.raises(PolicyError):
        Thresholds(review, step_up, block)
