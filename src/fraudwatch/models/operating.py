"""Operating thresholds chosen on the validation period, not fixed numbers.

The rule (`OperatingTargets`, defaults in brackets), on the validation period's blended risk
and the labels known when the model is trained:

* **block**: the lowest risk at which at least `block_precision` (0.9) of the flagged
  transactions are known frauds, among cut-offs flagging at least `min_frauds` (5) frauds —
  recall is as high as it gets while nine in ten blocks are right;
* **step_up**: the same with `step_up_precision` (0.5): a challenge costs the customer a code,
  so one fraud in two is worth it;
* **review**: the risk flagging `review_alert_rate` (0.5 %) of the transactions — the analysts'
  capacity — lowered to step_up if that is lower, so every step_up would also be reviewed.

Then review ≤ step_up ≤ block (step_up and block are raised to the level below when a precision
is already met there). A level whose precision is never met stays at the level above (block
at 1.0 only blocks what rules block). Validation labels are still incomplete (frauds not yet
reported count as genuine), so precision is underestimated and the thresholds err high. With
fewer than `min_frauds` known frauds in validation the fixed fallback (0.3 / 0.6 / 0.9) is kept
and the rule says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fraudwatch.models.blend import Thresholds

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class OperatingTargets:
    review_alert_rate: float = 0.005
    step_up_precision: float = 0.5
    block_precision: float = 0.9
    min_frauds: int = 5

    def __post_init__(self) -> None:
        if not 0.0 < self.review_alert_rate < 1.0:
            raise ValueError(f"review_alert_rate must be in (0, 1), got {self.review_alert_rate}")
        for name in ("step_up_precision", "block_precision"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if self.min_frauds < 1:
            raise ValueError(f"min_frauds must be at least 1, got {self.min_frauds}")


@dataclass(frozen=True)
class OperatingPoint:
    """The chosen thresholds, the targets they came from, and what they do on validation."""

    thresholds: Thresholds
    rule: str  # "validation" or "fallback: <why>"
    targets: OperatingTargets
    validation: dict[str, dict[str, float]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "targets": asdict(self.targets),
            "thresholds": self.thresholds.as_dict(),
            "validation": self.validation,
        }


def choose_thresholds(
    risk: Floats, y: npt.NDArray[np.integer[Any]], targets: OperatingTargets
) -> OperatingPoint:
    """Thresholds by the rule in the module docstring, from validation `risk` and labels `y`."""
    frauds = int(np.sum(y))
    if frauds < targets.min_frauds:
        fallback = Thresholds()
        why = f"fallback: {frauds} known frauds in validation, fewer than {targets.min_frauds}"
        return OperatingPoint(fallback, why, targets, validation_outcomes(risk, y, fallback))
    order = np.argsort(-risk, kind="stable")
    ranked, hits = risk[order], np.cumsum(y[order])
    # cut-offs at distinct scores: flag every row with risk >= ranked[k]
    last = np.r_[ranked[1:] != ranked[:-1], True]
    cuts = ranked[last]
    flagged = np.flatnonzero(last) + 1
    caught = hits[last]
    precision = caught / flagged

    def lowest_with(target: float) -> float:
        ok = np.flatnonzero((precision >= target) & (caught >= targets.min_frauds))
        return float(cuts[ok[-1]]) if len(ok) else 1.0

    block = lowest_with(targets.block_precision)
    step_up = min(lowest_with(targets.step_up_precision), block)
    k = max(int(targets.review_alert_rate * len(risk)), 1)
    review = min(float(ranked[min(k, len(ranked)) - 1]), step_up)
    review = max(review, np.nextafter(0.0, 1.0))  # risk 0 would review everything
    chosen = Thresholds(review, max(step_up, review), max(block, step_up, review))
    return OperatingPoint(chosen, "validation", targets, validation_outcomes(risk, y, chosen))


def validation_outcomes(
    risk: Floats, y: npt.NDArray[np.integer[Any]], thresholds: Thresholds
) -> dict[str, dict[str, float]]:
    """Per level: flagged share, precision and recall on the validation period."""
    out: dict[str, dict[str, float]] = {}
    frauds = max(int(np.sum(y)), 1)
    for name, level in thresholds.as_dict().items():
        flagged = risk >= level
        count = int(flagged.sum())
        caught = int(y[flagged].sum())
        out[name] = {
            "threshold": level,
            "alert_rate": count / max(len(risk), 1),
            "precision": caught / count if count else 0.0,
            "recall": caught / frauds,
        }
    return out
