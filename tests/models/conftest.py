"""Small simulated histories and their feature frames, built once per test session."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.models.blend import Thresholds
from fraudwatch.models.bundle import ModelBundle
from fraudwatch.models.classifier import ClassifierParams
from fraudwatch.models.dataset import FeatureFrame, build_frame, load_labelled_history
from fraudwatch.models.evaluate import EvaluationSet, evaluation_set
from fraudwatch.models.split import TimeSplit
from fraudwatch.models.train import TrainOptions, train
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.simulate import SimulationConfig, simulate

TRANSACTIONS = 20_000


def fast_options(**overrides: object) -> TrainOptions:
    """Few trees, one thread: tests stay fast and deterministic."""
    params = ClassifierParams(max_trees=40, early_stopping_rounds=10, threads=1, **overrides)  # type: ignore[arg-type]
    return TrainOptions(params, anomaly_trees=20, thresholds=Thresholds())


@pytest.fixture(scope="session")
def simulated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(SimulationConfig(transactions=TRANSACTIONS, seed=11), str(out), "parquet")
    return out


@pytest.fixture(scope="session")
def simulated_frame(simulated_dir: Path) -> FeatureFrame:
    ctx = IngestContext(tokenizer=CardTokenizer(bytes(range(32))), source="sim")
    history = load_labelled_history("parquet", str(simulated_dir), ctx, default_locator())
    return build_frame(history, default_feature_set())


@pytest.fixture(scope="session")
def trained(simulated_frame: FeatureFrame) -> tuple[ModelBundle, EvaluationSet]:
    """A small model on the simulated history and its evaluation set."""
    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=4, test_days=8)
    return train(simulated_frame, split, fast_options()), evaluation_set(simulated_frame, split)
