"""The metrics fraud teams use, as pure functions of labels and scores (each one checked
against hand-computed values in tests/models/test_metrics.py).

Undefined values (a period without fraud has no recall) are None, never a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_US = 86_400_000_000


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Probability that a random fraud scores above a random genuine one (ties count half)."""
    if y.min(initial=0) == y.max(initial=0):
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def average_precision(y: np.ndarray, score: np.ndarray) -> float | None:
    """Σ over thresholds of (recall step) * precision: the area under the PR curve."""
    if not y.any():
        return None
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, score))


@dataclass(frozen=True)
class AtThreshold:
    threshold: float
    flagged: int
    true_positives: int
    precision: float | None
    recall: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return self.__dict__.copy()


def at_threshold(y: np.ndarray, score: np.ndarray, threshold: float) -> AtThreshold:
    """Transactions with score ≥ threshold are flagged."""
    flagged = score >= threshold
    tp = int((flagged & (y == 1)).sum())
    n_flagged, positives = int(flagged.sum()), int(y.sum())
    return AtThreshold(
        threshold,
        n_flagged,
        tp,
        tp / n_flagged if n_flagged else None,
        tp / positives if positives else None,
    )


def recall_at_fpr(y: np.ndarray, score: np.ndarray, fpr: float) -> float | None:
    """Recall when at most `fpr` of genuine transactions may be flagged.

    With n genuine transactions, k = floor(fpr · n) may be flagged: the threshold is the
    (k+1)-th highest genuine score, and a transaction is flagged when its score is strictly
    above it (so ties with that genuine score are not flagged and the FPR never exceeds fpr).
    """
    genuine = np.sort(score[y == 0])[::-1]
    fraud = score[y == 1]
    if len(fraud) == 0 or len(genuine) == 0:
        return None
    k = int(np.floor(fpr * len(genuine) + 1e-9))
    if k >= len(genuine):
        return 1.0
    return float((fraud > genuine[k]).mean())


def card_precision_at_k(
    day: np.ndarray,
    card: np.ndarray,
    score: np.ndarray,
    y: np.ndarray,
    compromised_since_day: dict[str, int],
    k: int = 100,
) -> tuple[float | None, list[float]]:
    """Mean over days of the share of fraudulent cards among the k riskiest cards of the day.

    A card's risk on a day is its highest transaction score that day; it is fraudulent that day
    if any of its transactions that day is. Cards already known compromised before the day
    starts (`compromised_since_day[card] < day`) are excluded: investigators already have them.
    The denominator is k even on days with fewer candidates. Ties rank by card key.
    """
    frame = pd.DataFrame({"day": day, "card": card, "score": score, "y": y})
    per_card = frame.groupby(["day", "card"], sort=True).agg(score=("score", "max"), y=("y", "max"))
    per_card = per_card.reset_index()
    known = per_card["card"].map(compromised_since_day)
    per_card = per_card[~(known < per_card["day"])]
    daily: list[float] = []
    for _, cards in per_card.groupby("day", sort=True):
        top = cards.sort_values(["score", "card"], ascending=[False, True], kind="stable").head(k)
        daily.append(float(top["y"].sum()) / k)
    return (float(np.mean(daily)) if daily else None), daily


@dataclass(frozen=True)
class Money:
    """Fraud amount stopped (blocked or stepped up) versus let through, and the genuine amount
    blocked (customer friction), in the reporting currency (EUR)."""

    fraud_total: float
    saved: float
    missed: float
    genuine_blocked: float
    genuine_stepped_up: int

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def money(y: np.ndarray, amount: np.ndarray, decision: np.ndarray) -> Money:
    """`decision` indexes blend.DECISIONS: 2 = step_up and 3 = block stop the payment."""
    fraud = y == 1
    stopped = decision >= 2
    return Money(
        float(amount[fraud].sum()),
        float(amount[fraud & stopped].sum()),
        float(amount[fraud & ~stopped].sum()),
        float(amount[~fraud & (decision == 3)].sum()),
        int((~fraud & (decision == 2)).sum()),
    )


def recall_by_group(
    group: np.ndarray, y: np.ndarray, flagged: np.ndarray
) -> dict[str, dict[str, float | int]]:
    """Per group value (e.g. fraud scenario) of the frauds: how many, share flagged."""
    out: dict[str, dict[str, float | int]] = {}
    fraud = (y == 1) & pd.notna(group)
    for value in sorted({str(g) for g in group[fraud]}):
        members = fraud & (group == value)
        out[value] = {"frauds": int(members.sum()), "recall": float(flagged[members].mean())}
    return out
