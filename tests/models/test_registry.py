"""The MLflow registry: runs logged, versions promoted one stage at a time, loaded by stage."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from fraudwatch.errors import NotFoundError
from fraudwatch.models.bundle import ModelBundle
from fraudwatch.models.dataset import FeatureFrame
from fraudwatch.models.evaluate import evaluation_set
from fraudwatch.models.registry import ModelRegistry, PromotionError
from fraudwatch.models.split import TimeSplit
from fraudwatch.models.train import train
from tests.models.conftest import fast_options


def test_stages_promotion_and_loading_by_stage(
    simulated_frame: FeatureFrame, tmp_path: Path
) -> None:
    registry = ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", "risk", tmp_path / "artifacts")
    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=4, test_days=8)
    bundle = train(simulated_frame, split, fast_options())
    first_dir = bundle.save(tmp_path / "m1")
    first = registry.log_training(bundle, first_dir, {"test_roc_auc": 0.9})
    second = registry.log_training(bundle, bundle.save(tmp_path / "m2"))
    assert [(v.version, v.stage) for v in registry.versions()] == [
        (first, "candidate"),
        (second, "candidate"),
    ]
    run = registry.client.get_run(registry.versions()[0].run_id)
    assert run.data.tags["feature_set_version"] == simulated_frame.feature_set.version
    assert run.data.tags["period.test_start"] == split.test_start.isoformat()
    assert run.data.metrics["test_roc_auc"] == 0.9
    assert run.data.params["algorithm"] == "lightgbm"

    with pytest.raises(PromotionError):  # no skipping a stage
        registry.promote(first, "champion")
    with pytest.raises(NotFoundError):
        registry.at_stage("champion")
    for stage in ("shadow", "challenger", "champion"):
        registry.promote(first, stage)
    assert registry.at_stage("champion").version == first
    for stage in ("shadow", "challenger", "champion"):
        registry.promote(second, stage)
    stages = {v.version: v.stage for v in registry.versions()}
    assert stages == {first: "archived", second: "champion"}

    loaded = registry.load("champion")
    rows = evaluation_set(simulated_frame, split).rows
    np.testing.assert_array_equal(loaded.score_rows(rows).risk, bundle.score_rows(rows).risk)
    assert isinstance(loaded, ModelBundle)
