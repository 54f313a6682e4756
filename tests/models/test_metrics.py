"""Every metric against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fraudwatch.models.metrics import (
    at_threshold,
    average_precision,
    card_precision_at_k,
    money,
    recall_at_fpr,
    recall_by_group,
    roc_auc,
)

Y = np.array([0, 0, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8])


def test_roc_auc_counts_ordered_pairs() -> None:
    # pairs (fraud, genuine): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4
    assert roc_auc(Y, S) == pytest.approx(0.75)
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)  # tie = half
    assert roc_auc(np.array([0, 0]), np.array([0.1, 0.2])) is None


def test_average_precision_sums_precision_at_each_recall_step() -> None:
    # ranked: 0.8 fraud (P=1, R=.5), 0.4 genuine, 0.35 fraud (P=2/3, R=1)
    assert average_precision(Y, S) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert average_precision(np.array([0, 0]), np.array([0.1, 0.2])) is None


def test_precision_and_recall_at_a_threshold() -> None:
    y = np.array([1, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.3, 0.2, 0.95])
    at = at_threshold(y, s, 0.5)  # flagged: 0.9 (fraud), 0.8, 0.95
    assert (at.flagged, at.true_positives) == (3, 1)
    assert at.precision == pytest.approx(1 / 3)
    assert at.recall == pytest.approx(1 / 2)
    nothing = at_threshold(y, s, 0.99)
    assert nothing.precision is None and nothing.recall == 0.0
    assert at_threshold(y, s, 0.9).flagged == 2  # score equal to the threshold is flagged


def test_recall_at_fpr_never_exceeds_the_false_positive_budget() -> None:
    genuine = np.arange(10) / 10  # 0.0 .. 0.9
    fraud = np.array([0.85, 0.95, 0.5, 0.8])
    y = np.r_[np.zeros(10), np.ones(4)].astype(int)
    s = np.r_[genuine, fraud]
    # 10 % of 10 genuine -> 1 may be flagged: threshold = 2nd highest genuine = 0.8, strictly above
    assert recall_at_fpr(y, s, 0.10) == pytest.approx(2 / 4)  # 0.85, 0.95 (0.8 is a tie: no)
    # 0.1 % of 10 -> none may be flagged: above 0.9
    assert recall_at_fpr(y, s, 0.001) == pytest.approx(1 / 4)
    assert recall_at_fpr(y, s, 1.0) == 1.0
    assert recall_at_fpr(np.zeros(3, int), np.ones(3), 0.1) is None


def test_card_precision_at_k_excludes_known_compromised_cards() -> None:
    day = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    card = np.array(["A", "A", "B", "C", "D", "A", "C", "E"])
    score = np.array([0.9, 0.1, 0.8, 0.7, 0.95, 0.5, 0.6, 0.4])
    y = np.array([0, 1, 0, 1, 1, 0, 1, 1])
    known = {"D": -1, "A": 0}  # D known before day 0; A known during day 0, so from day 1
    mean, daily = card_precision_at_k(day, card, score, y, known, k=2)
    # day 0: D excluded; A (max .9, a fraud tx) and B (.8) -> 1/2
    # day 1: A excluded; C (.6 fraud) and E (.4 fraud) -> 2/2
    assert daily == [0.5, 1.0]
    assert mean == pytest.approx(0.75)
    # fewer candidates than k: the denominator stays k
    _, daily3 = card_precision_at_k(day, card, score, y, known, k=3)
    assert daily3 == [pytest.approx(2 / 3), pytest.approx(2 / 3)]


def test_money_saved_missed_and_friction() -> None:
    y = np.array([1, 1, 0, 0])
    amount = np.array([100.0, 50.0, 30.0, 20.0])
    decision = np.array([3, 1, 3, 2])  # block, review, block, step_up
    result = money(y, amount, decision)
    assert (result.fraud_total, result.saved, result.missed) == (150.0, 100.0, 50.0)
    assert (result.genuine_blocked, result.genuine_stepped_up) == (30.0, 1)


def test_recall_by_scenario() -> None:
    group = np.array(["ato", "ato", None, "spree", None], dtype=object)
    y = np.array([1, 1, 0, 1, 1])
    flagged = np.array([True, False, True, True, True])
    assert recall_by_group(group, y, flagged) == {
        "ato": {"frauds": 2, "recall": 0.5},
        "spree": {"frauds": 1, "recall": 1.0},
    }
