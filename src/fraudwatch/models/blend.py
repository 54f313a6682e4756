"""The blended risk score and the decisions it drives.

    risk = 1 - (1 - p) * (1 - w * u),   u = clip((q - q0) / (1 - q0), 0, 1)

p is the calibrated fraud probability of the classifier, q the Isolation Forest percentile
(`anomaly.py`). Only the most unusual transactions (q above q0, default the top 1 %) get an
anomaly boost, of at most w (default 0.1) of the remaining probability mass: risk never falls
below p, a transaction the classifier is sure about stays sure, and a never-seen pattern that
the classifier misses can still reach review. Decisions compare risk with three thresholds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

DECISIONS = ("approve", "review", "step_up", "block")


@dataclass(frozen=True)
class Blend:
    weight: float = 0.1
    anomaly_floor: float = 0.99

    def __call__(self, probability: np.ndarray, anomaly: np.ndarray) -> np.ndarray:
        # np.clip's exact values, without its Python-level checks (~10 µs a call)
        u = np.minimum(
            np.maximum((anomaly - self.anomaly_floor) / (1.0 - self.anomaly_floor), 0.0), 1.0
        )
        out: np.ndarray = probability + (1.0 - probability) * self.weight * u  # same formula
        return out


@dataclass(frozen=True)
class Thresholds:
    """Risk at or above which a transaction is reviewed, stepped up (e.g. 3-D Secure) or
    blocked. Risk is a calibrated probability, so 0.5 means about one fraud in two. The
    defaults are the scoring service's (FRAUDWATCH_REVIEW_THRESHOLD and the others)."""

    review: float = 0.3
    step_up: float = 0.6
    block: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 < self.review <= self.step_up <= self.block <= 1.0:
            raise ValueError("thresholds must satisfy 0 < review <= step_up <= block <= 1")

    def decide(self, risk: np.ndarray) -> np.ndarray:
        """Index into DECISIONS per row (0 approve … 3 block)."""
        edges = np.array([self.review, self.step_up, self.block])
        out: np.ndarray = np.searchsorted(edges, risk, side="right")
        return out

    def as_dict(self) -> dict[str, float]:
        return asdict(self)
