"""The backtest: replay a history through the features, train on a window with the labels
known when it would have been trained, skip the label delay, score the next window.

Also the shared steps of `fraudwatch train` (`fit_on_history`), so the two never diverge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fraudwatch.features.definitions import FeatureSet
from fraudwatch.models.bundle import ModelBundle
from fraudwatch.models.dataset import FeatureFrame, LabelledHistory, build_frame
from fraudwatch.models.evaluate import EvaluationSet, evaluate, evaluation_set
from fraudwatch.models.split import TimeSplit
from fraudwatch.models.train import TrainOptions, train


@dataclass
class Periods:
    """What the user asked for; anything None is derived from the data's span."""

    train_start: date | None = None
    train_days: float | None = None
    delay_days: float | None = None
    test_days: float | None = None

    def split_for(self, frame: FeatureFrame) -> TimeSplit:
        ts = frame.rows["ts"].to_numpy()
        return TimeSplit.default_for(
            int(ts.min()),
            int(ts.max()),
            train_days=self.train_days,
            delay_days=self.delay_days,
            test_days=self.test_days,
            train_start=self.train_start,
        )


@dataclass
class Fitted:
    bundle: ModelBundle
    split: TimeSplit
    evaluation: EvaluationSet
    frame: FeatureFrame
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]


def fit_on_history(
    history: LabelledHistory,
    feature_set: FeatureSet,
    periods: Periods,
    options: TrainOptions,
    *,
    source: str = "",
) -> Fitted:
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    started, used = time.perf_counter(), time.process_time()
    frame = build_frame(history, feature_set)
    seconds["features"] = time.perf_counter() - started
    cpu["features"] = time.process_time() - used
    split = periods.split_for(frame)
    started, used = time.perf_counter(), time.process_time()
    bundle = train(frame, split, options, source=source)
    seconds["train"] = time.perf_counter() - started
    cpu["train"] = time.process_time() - used
    return Fitted(bundle, split, evaluation_set(frame, split), frame, seconds, cpu)


def backtest(
    history: LabelledHistory,
    feature_set: FeatureSet,
    periods: Periods,
    options: TrainOptions,
    *,
    source: str = "",
    k: int = 100,
    save_to: Path | None = None,
) -> dict[str, Any]:
    """Every metric of `evaluate` on the test window, plus the periods and the time taken."""
    fitted = fit_on_history(history, feature_set, periods, options, source=source)
    started, used = time.perf_counter(), time.process_time()
    report = evaluate(fitted.bundle, fitted.evaluation, k=k)
    fitted.seconds["score_and_evaluate"] = time.perf_counter() - started
    fitted.cpu_seconds["score_and_evaluate"] = time.process_time() - used
    if save_to is not None:
        fitted.bundle.save(save_to)
    return {
        "roc_auc": report.pop("roc_auc"),
        "average_precision": report.pop("average_precision"),
        f"card_precision_at_{k}": report.pop(f"card_precision_at_{k}"),
        **report,
        "split": fitted.split.as_dict(),
        "feature_set_version": fitted.frame.feature_set.version,
        "train_rows": fitted.bundle.metadata["train_rows"],
        "train_frauds": fitted.bundle.metadata["train_frauds"],
        "trees": fitted.bundle.metadata["trees"],
        "seconds": {name: round(value, 2) for name, value in fitted.seconds.items()},
        # CPU time of the process (every thread): on a shared machine, wall time follows the load
        "cpu_seconds": {name: round(value, 2) for name, value in fitted.cpu_seconds.items()},
    }
