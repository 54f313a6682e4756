"""Time split, training, the saved artefact — and that the test period cannot leak in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudwatch.features.rows import micros
from fraudwatch.models.bundle import ModelBundle
from fraudwatch.models.dataset import FeatureFrame
from fraudwatch.models.evaluate import evaluate, evaluation_set
from fraudwatch.models.layout import FeatureLayoutError
from fraudwatch.models.split import TimeSplit
from fraudwatch.models.train import train, training_view
from tests.models.conftest import fast_options

SPLIT = TimeSplit.from_days(date(2026, 1, 5), train_days=20, delay_days=3, test_days=7)


def test_split_periods_follow_each_other() -> None:
    assert SPLIT.train_end == datetime(2026, 1, 25, tzinfo=UTC)
    assert SPLIT.validation_start == datetime(2026, 1, 21, tzinfo=UTC)  # last 20 %
    assert SPLIT.test_start == datetime(2026, 1, 28, tzinfo=UTC)
    assert SPLIT.test_end == datetime(2026, 2, 4, tzinfo=UTC)
    ts = np.array([micros(datetime(2026, 1, d, tzinfo=UTC)) for d in (4, 5, 21, 25, 27, 28)])
    train_mask, valid_mask, test_mask = SPLIT.masks(ts)
    assert train_mask.tolist() == [False, True, False, False, False, False]
    assert valid_mask.tolist() == [False, False, True, False, False, False]
    assert test_mask.tolist() == [False, False, False, False, False, True]
    assert TimeSplit.from_dict(SPLIT.as_dict()) == SPLIT


def test_default_split_fits_the_data() -> None:
    first = micros(datetime(2026, 1, 5, 0, 3, tzinfo=UTC))
    last = micros(datetime(2026, 2, 3, 23, 50, tzinfo=UTC))
    split = TimeSplit.default_for(first, last)  # 30 days: test 6, delay 3, train 21
    assert split.train_end == datetime(2026, 1, 26, tzinfo=UTC)
    assert split.test_start == datetime(2026, 1, 29, tzinfo=UTC)
    assert split.test_end == datetime(2026, 2, 4, tzinfo=UTC)


def _tamper_after_training(frame: FeatureFrame, split: TimeSplit) -> FeatureFrame:
    """Everything training must not see, changed: features and labels of the gap and test
    periods scrambled, every test transaction labelled fraud, and fraud labels on training
    transactions that only become known after the model was trained."""
    rows = frame.rows.copy()
    later = rows["ts"].to_numpy() >= micros(split.train_end)
    rng = np.random.default_rng(0)
    for name in frame.feature_names[:20]:
        rows.loc[later, name] = rng.normal(size=int(later.sum()))
    cutoff = split.label_cutoff_us
    train_ids = rows.loc[~later, "transaction_id"].sample(200, random_state=1)
    late_labels = pd.DataFrame(
        {
            "transaction_id": [*rows.loc[later, "transaction_id"], *train_ids],
            "known_at": cutoff + 1,
            "is_fraud": True,
        }
    )
    labels = pd.concat([frame.labels, late_labels], ignore_index=True)
    return replace(frame, rows=rows, labels=labels)


def _model_text(bundle: ModelBundle, directory: Path) -> bytes:
    bundle.metadata["trained_at"] = ""
    bundle.metadata["train_seconds"] = 0
    bundle.save(directory)
    return b"".join(
        (directory / name).read_bytes() for name in ("lightgbm.txt", "model.json", "anomaly.npz")
    )


def test_the_test_period_cannot_leak_into_training(
    simulated_frame: FeatureFrame, tmp_path: Path
) -> None:
    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=4, test_days=8)
    tampered = _tamper_after_training(simulated_frame, split)
    view = training_view(simulated_frame, split)
    assert view.train["ts"].max() < split.label_cutoff_us
    assert int(view.y_train.sum()) > 5  # the model has frauds to learn from
    clean = _model_text(train(simulated_frame, split, fast_options()), tmp_path / "clean")
    other = _model_text(train(tampered, split, fast_options()), tmp_path / "tampered")
    assert clean == other


def test_trained_bundle_round_trips_and_scores_the_test_period(
    simulated_frame: FeatureFrame, tmp_path: Path
) -> None:
    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=4, test_days=8)
    bundle = train(simulated_frame, split, fast_options())
    assert bundle.metadata["feature_set_version"] == simulated_frame.feature_set.version
    assert bundle.metadata["split"] == split.as_dict()
    data = evaluation_set(simulated_frame, split)
    assert data.rows["ts"].min() >= micros(split.test_start)
    report = evaluate(bundle, data)
    assert report["transactions"] == len(data.rows)
    assert report["frauds"] == int(data.rows["label"].sum()) > 0
    assert report["roc_auc"] > 0.6  # far better than chance on simulated fraud
    loaded = ModelBundle.load(bundle.save(tmp_path / "m"))
    x = loaded.layout.matrix(data.rows)
    np.testing.assert_array_equal(loaded.score_matrix(x).risk, bundle.score_matrix(x).risk)
    risk = loaded.score_matrix(x).risk
    assert ((risk >= bundle.score_matrix(x).probability) & (risk <= 1)).all()  # blend


def test_model_refuses_wrong_columns(simulated_frame: FeatureFrame) -> None:
    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=4, test_days=8)
    bundle = train(simulated_frame, split, fast_options())
    with pytest.raises(FeatureLayoutError):
        bundle.score_rows(simulated_frame.rows.drop(columns=[simulated_frame.feature_names[3]]))
    with pytest.raises(FeatureLayoutError):
        bundle.layout.check(list(reversed(bundle.layout.columns)))


def test_xgboost_is_selectable(simulated_frame: FeatureFrame, tmp_path: Path) -> None:
    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=4, test_days=8)
    bundle = train(simulated_frame, split, fast_options(algorithm="xgboost"))
    loaded = ModelBundle.load(bundle.save(tmp_path / "x"))
    data = evaluation_set(simulated_frame, split)
    assert loaded.classifier.algorithm == "xgboost"
    np.testing.assert_allclose(loaded.score_rows(data.rows).risk, bundle.score_rows(data.rows).risk)
    assert evaluate(loaded, data)["roc_auc"] > 0.6


def test_optuna_search_is_time_bounded_and_scored_on_validation(
    simulated_frame: FeatureFrame,
) -> None:
    import time
    from dataclasses import replace as change

    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=4, test_days=8)
    options = change(fast_options(), search_seconds=4.0)
    started = time.perf_counter()
    bundle = train(simulated_frame, split, options)
    assert time.perf_counter() - started < 60
    params = bundle.metadata["params"]
    assert 0.02 <= params["learning_rate"] <= 0.2 and 8 <= params["num_leaves"] <= 128
