"""The policy: model score, anomaly score and rule hits -> approve / review / step_up / block.

    risk = clip(blended model risk + Σ weights of fired rules / 100, 0, 1)
    outcome from risk: block at or above `block`, step_up at or above `step_up`, review at or
    above `review`, else approve (auto-block above the block threshold);
    final outcome = the stronger of that and the strongest fired rule's action (a `tag` never
    changes it; shadow rules never act).

Rule weights are points of risk on a 0-100 scale, so a rule of weight 30 moves a transaction by
0.30. Without a model the blended risk is 0 and rules alone decide (rules-only mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fraudwatch.decisions.model import Outcome
from fraudwatch.rules.engine import RuleHits
from fraudwatch.rules.model import Action

RANK = {Outcome.APPROVE: 0, Outcome.REVIEW: 1, Outcome.STEP_UP: 2, Outcome.BLOCK: 3}
FROM_ACTION = {
    Action.REVIEW: Outcome.REVIEW,
    Action.STEP_UP: Outcome.STEP_UP,
    Action.BLOCK: Outcome.BLOCK,
}


class PolicyError(ValueError):
    """Thresholds that cannot work (not within 0..1 or not increasing)."""


@dataclass(frozen=True)
class Thresholds:
    """Risk levels at which each outcome starts; review <= step_up <= block, all in [0, 1]."""

    review: float = 0.3
    step_up: float = 0.6
    block: float = 0.9

    def __post_init__(self) -> None:
        values = (self.review, self.step_up, self.block)
        if not all(0.0 <= v <= 1.0 for v in values):
            raise PolicyError(f"thresholds must be within 0 and 1, got {values}")
        if not self.review <= self.step_up <= self.block:
            raise PolicyError(
                f"thresholds must increase: review {self.review} <= step_up {self.step_up} "
                f"<= block {self.block}"
            )

    def outcome(self, risk: float) -> Outcome:
        if risk >= self.block:
            return Outcome.BLOCK
        if risk >= self.step_up:
            return Outcome.STEP_UP
        if risk >= self.review:
            return Outcome.REVIEW
        return Outcome.APPROVE


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    risk: float
    by_rule: bool  # a rule's action, not the risk, set the outcome


def decide(thresholds: Thresholds, model_risk: float | None, hits: RuleHits) -> Verdict:
    """The outcome of one transaction (see the module docstring for the formula)."""
    base = 0.0 if model_risk is None or math.isnan(model_risk) else model_risk
    risk = min(1.0, max(0.0, base + hits.score / 100.0))
    outcome = thresholds.outcome(risk)
    ruled = FROM_ACTION.get(hits.action) if hits.action is not None else None
    if ruled is not None and RANK[ruled] > RANK[outcome]:
        return Verdict(ruled, risk, True)
    return Verdict(outcome, risk, False)
