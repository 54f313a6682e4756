"""Honest evaluation: the test period only, every label known at the end of the data.

`evaluation_set` cuts the test period out of a feature frame; `evaluate` scores it with a
model and computes every metric of `metrics.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudwatch.models.blend import DECISIONS
from fraudwatch.models.bundle import ModelBundle, Scores
from fraudwatch.models.dataset import FeatureFrame, ModelDataError
from fraudwatch.models.metrics import (
    DAY_US,
    at_threshold,
    average_precision,
    card_precision_at_k,
    money,
    recall_at_fpr,
    recall_by_group,
    roc_auc,
)
from fraudwatch.models.split import TimeSplit


@dataclass
class EvaluationSet:
    """Test-period rows (features, keys, final label) and when each card became known
    compromised (earliest fraud label known, any period, µs). For the report: the validation
    period (with `label_known`, the labels training saw) and a sample of training rows (the
    drift reference)."""

    rows: pd.DataFrame
    compromised_at: dict[str, int]
    validation: pd.DataFrame | None = None
    reference: pd.DataFrame | None = None


def card_keys(rows: pd.DataFrame) -> pd.Series:
    """The card, else the customer, else the transaction itself (datasets without cards)."""
    return rows["card"].fillna(rows["customer"]).fillna(rows["transaction_id"]).astype(str)


def evaluation_set(
    frame: FeatureFrame, split: TimeSplit, *, reference_rows: int = 20_000
) -> EvaluationSet:
    train, validation, test = split.masks(frame.rows["ts"].to_numpy())
    rows = frame.rows[test].reset_index(drop=True)
    if rows.empty:
        raise ModelDataError(
            f"the test period {split.test_start:%Y-%m-%d} to {split.test_end:%Y-%m-%d} is empty"
        )
    known = frame.fraud_known_times()
    fraud_rows = frame.rows[frame.rows["transaction_id"].isin(known.index)]
    cards = card_keys(fraud_rows)
    times = fraud_rows["transaction_id"].map(known)
    compromised = times.groupby(cards.to_numpy()).min()
    known_then = frame.labels_known_by(split.label_cutoff_us)
    validation_rows = frame.rows[validation].assign(label_known=known_then[validation])
    train_rows = frame.rows[train]
    reference = train_rows.sample(min(reference_rows, len(train_rows)), random_state=0)
    return EvaluationSet(
        rows,
        {str(k): int(v) for k, v in compromised.items()},
        validation_rows.reset_index(drop=True),
        reference.sort_index().reset_index(drop=True),
    )


def evaluate(
    bundle: ModelBundle, data: EvaluationSet, *, k: int = 100, scores: Scores | None = None
) -> dict[str, Any]:
    rows = data.rows
    scores = scores or bundle.score_rows(rows)
    y = rows["label"].to_numpy().astype(np.int8)
    risk = scores.risk
    decision = bundle.thresholds.decide(risk)
    ts = rows["ts"].to_numpy()
    day = ts // DAY_US
    since_day = {card: at // DAY_US for card, at in data.compromised_at.items()}
    card_precision, daily = card_precision_at_k(
        day, card_keys(rows).to_numpy(), risk, y, since_day, k
    )
    flagged = decision >= 1
    report: dict[str, Any] = {
        "period": {
            "start": pd.Timestamp(int(ts.min()), unit="us", tz="UTC").isoformat(),
            "end": pd.Timestamp(int(ts.max()), unit="us", tz="UTC").isoformat(),
            "days": len(daily),
        },
        "transactions": len(rows),
        "frauds": int(y.sum()),
        "fraud_rate": float(y.mean()),
        "roc_auc": roc_auc(y, risk),
        "average_precision": average_precision(y, risk),
        f"card_precision_at_{k}": card_precision,
        "recall_at_0.1pct_fpr": recall_at_fpr(y, risk, 0.001),
        "recall_at_1pct_fpr": recall_at_fpr(y, risk, 0.01),
        "classifier_only": {
            "roc_auc": roc_auc(y, scores.probability),
            "average_precision": average_precision(y, scores.probability),
        },
        "anomaly_only": {
            "roc_auc": roc_auc(y, scores.anomaly),
            "average_precision": average_precision(y, scores.anomaly),
        },
        "thresholds": {
            name: at_threshold(y, risk, value).as_dict()
            for name, value in bundle.thresholds.as_dict().items()
        },
        "operating_point": bundle.metadata.get("operating_point", {"rule": "configured"}),
        "decisions": {name: int((decision == i).sum()) for i, name in enumerate(DECISIONS)},
        "money_eur": money(y, rows["amount_eur"].to_numpy(), decision).as_dict(),
        "card_precision_daily": [round(v, 4) for v in daily],
    }
    scenarios = rows["scenario"].to_numpy(dtype=object)
    if pd.notna(scenarios).any():
        at_review = recall_by_group(scenarios, y, flagged)
        at_fpr = _recall_by_group_at_fpr(scenarios, y, risk, 0.01)
        report["recall_by_scenario"] = {
            name: {**values, "recall_at_1pct_fpr": at_fpr.get(name)}
            for name, values in at_review.items()
        }
    return report


def _recall_by_group_at_fpr(
    group: np.ndarray, y: np.ndarray, score: np.ndarray, fpr: float
) -> dict[str, float]:
    genuine = np.sort(score[y == 0])[::-1]
    if len(genuine) == 0:
        return {}
    k = int(np.floor(fpr * len(genuine) + 1e-9))
    threshold = genuine[min(k, len(genuine) - 1)] if k < len(genuine) else -np.inf
    return {
        name: values["recall"]
        for name, values in recall_by_group(group, y, score > threshold).items()
    }


EVALUATION_ROWS = "test_period.parquet"
COMPROMISED = "compromised_cards.json"
VALIDATION_ROWS = "validation_period.parquet"
REFERENCE_ROWS = "train_sample.parquet"


def save_evaluation_set(data: EvaluationSet, directory: Path) -> None:
    """Kept beside the model so `fraudwatch evaluate` needs no second pass over the data."""
    data.rows.to_parquet(directory / EVALUATION_ROWS, index=False)
    (directory / COMPROMISED).write_text(json.dumps(data.compromised_at))
    for name, rows in ((VALIDATION_ROWS, data.validation), (REFERENCE_ROWS, data.reference)):
        if rows is not None:
            rows.to_parquet(directory / name, index=False)


def load_evaluation_set(directory: Path) -> EvaluationSet:
    path = directory / EVALUATION_ROWS
    if not path.is_file():
        raise ModelDataError(f"{directory} holds no test period ({EVALUATION_ROWS})")
    optional = [
        pd.read_parquet(directory / name) if (directory / name).is_file() else None
        for name in (VALIDATION_ROWS, REFERENCE_ROWS)
    ]
    return EvaluationSet(
        pd.read_parquet(path), json.loads((directory / COMPROMISED).read_text()), *optional
    )
