"""Operating thresholds chosen on the validation period, checked against hand-worked cases."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from fraudwatch.models.blend import Thresholds
from fraudwatch.models.bundle import ModelBundle
from fraudwatch.models.dataset import FeatureFrame
from fraudwatch.models.evaluate import evaluate, evaluation_set
from fraudwatch.models.operating import OperatingTargets, choose_thresholds
from fraudwatch.models.split import TimeSplit
from fraudwatch.models.train import train, training_view
from tests.models.conftest import fast_options

RISK = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
Y = np.array([1, 1, 1, 0, 1, 0, 0, 1, 0, 0])


def test_thresholds_follow_the_documented_rule() -> None:
    # precision flagging the top k: 1, 1, 1, .75, .8, .67, .57, .63, .56, .5
    targets = OperatingTargets(
        review_alert_rate=0.7, step_up_precision=0.7, block_precision=0.9, min_frauds=1
    )
    point = choose_thresholds(RISK, Y, targets)
    assert point.rule == "validation"
    assert point.thresholds == Thresholds(0.3, 0.5, 0.7)  # top 7, precision .8 at 5, 1 at 3
    assert point.validation["block"] == {
        "threshold": 0.7,
        "alert_rate": 0.3,
        "precision": 1.0,
        "recall": 0.6,
    }
    assert point.validation["review"]["alert_rate"] == 0.7


def test_review_never_above_step_up_and_unmet_precision_blocks_nothing() -> None:
    targets = OperatingTargets(
        review_alert_rate=0.1, step_up_precision=0.8, block_precision=1.0, min_frauds=4
    )
    point = choose_thresholds(RISK, Y, targets)
    # precision 1 never holds with 4 frauds caught; .8 first does at the top 5 (risk 0.5)
    assert point.thresholds == Thresholds(0.5, 0.5, 1.0)


def test_tied_scores_are_cut_together() -> None:
    risk, y = np.array([0.9, 0.9, 0.5, 0.5]), np.array([1, 0, 1, 1])
    targets = OperatingTargets(block_precision=0.6, step_up_precision=0.6, min_frauds=1)
    # flagging risk >= 0.9 flags both tied rows: precision .5, not the 1.0 of one row alone
    assert choose_thresholds(risk, y, targets).thresholds.block == 0.5


def test_too_few_known_frauds_keep_the_fallback() -> None:
    point = choose_thresholds(RISK, np.zeros(10, dtype=int), OperatingTargets())
    assert point.thresholds == Thresholds()
    assert point.rule.startswith("fallback: 0 known frauds")


def test_bad_targets_name_the_field() -> None:
    with pytest.raises(ValueError, match="block_precision"):
        OperatingTargets(block_precision=0.0)


def test_training_stores_the_chosen_thresholds_and_evaluate_reports_them(
    simulated_frame: FeatureFrame, tmp_path: Path
) -> None:
    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=4, test_days=8)
    options = fast_options()
    options.thresholds = None
    options.operating = OperatingTargets(min_frauds=2)  # 20,000 rows: 3 known in validation
    bundle = train(simulated_frame, split, options)
    point = bundle.metadata["operating_point"]
    assert point["rule"] == "validation"
    assert bundle.thresholds.as_dict() == point["thresholds"]
    # the thresholds are those of the validation period's risk
    view = training_view(simulated_frame, split)
    risk = bundle.score_rows(view.validation).risk
    again = choose_thresholds(risk, view.y_validation, options.operating)
    assert again.thresholds == bundle.thresholds
    assert point["validation"]["review"]["alert_rate"] <= 0.005 + 1e-9 or (
        bundle.thresholds.review == bundle.thresholds.step_up
    )
    loaded = ModelBundle.load(bundle.save(tmp_path / "m"))
    assert loaded.thresholds == bundle.thresholds
    assert loaded.threshold_rule == "validation"
    report = evaluate(loaded, evaluation_set(simulated_frame, split))
    assert report["operating_point"] == point
    assert report["thresholds"]["review"]["threshold"] == bundle.thresholds.review
