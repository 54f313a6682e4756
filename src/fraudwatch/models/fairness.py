"""Fairness of the decisions across groups, with fairlearn, and one mitigation.

For each group attribute the data has (region = billing country, institution = source, channel,
age band and customer segment from the `customer_age_band` / `customer_segment` attributes):
false-positive rate (genuine customers flagged), false-negative rate (frauds missed) and
selection rate (share flagged) per group, and the disparity (largest minus smallest, smallest
over largest). Groups smaller than `min_size` rows are left out: their rates are noise.

Mitigation: group-aware thresholds. On the validation period (never the test period), each
group gets the threshold at which its false-positive rate equals the overall one at the review
threshold; the test period then shows the rates again and what it cost in precision and recall.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

GROUPS = {
    "region": "billing_country",
    "institution": "source",
    "channel": "channel",
    "age band": "age_band",
    "customer segment": "segment",
}


def _rates(y: np.ndarray, flagged: np.ndarray, group: np.ndarray) -> dict[str, Any]:
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )

    frame = MetricFrame(
        metrics={
            "false_positive_rate": false_positive_rate,
            "false_negative_rate": false_negative_rate,
            "selection_rate": selection_rate,
        },
        y_true=y,
        y_pred=flagged.astype(int),
        sensitive_features=group,
    )
    by_group = {
        str(name): {k: _num(v) for k, v in row.items()} | {"rows": int((group == name).sum())}
        for name, row in frame.by_group.iterrows()
    }
    return {
        "by_group": by_group,
        "difference": {k: _num(v) for k, v in frame.difference().items()},
        "ratio": {k: _num(v) for k, v in frame.ratio().items()},
    }


def _num(value: Any) -> float | None:
    number = float(value)
    return None if np.isnan(number) else round(number, 6)


def _groups(rows: pd.DataFrame, column: str, min_size: int) -> np.ndarray | None:
    if column not in rows or rows[column].isna().all():
        return None
    values = rows[column].fillna("unknown").astype(str).to_numpy()
    names, counts = np.unique(values, return_counts=True)
    small = set(names[counts < min_size])
    values = np.where(np.isin(values, list(small)), "other", values)
    return values if len(np.unique(values)) > 1 else None


def fairness_report(
    test: pd.DataFrame,
    test_risk: np.ndarray,
    threshold: float,
    validation: pd.DataFrame | None = None,
    validation_risk: np.ndarray | None = None,
    min_size: int = 200,
) -> dict[str, Any]:
    y = test["label"].to_numpy().astype(int)
    flagged = test_risk >= threshold
    out: dict[str, Any] = {"threshold": threshold, "attributes": {}}
    for name, column in GROUPS.items():
        group = _groups(test, column, min_size)
        if group is None:
            continue
        entry = _rates(y, flagged, group)
        if validation is not None and validation_risk is not None:
            entry["mitigation"] = _mitigate(
                y, test_risk, group, validation, validation_risk, column, threshold
            )
        out["attributes"][name] = entry
    return out


def _mitigate(
    y: np.ndarray,
    risk: np.ndarray,
    group: np.ndarray,
    validation: pd.DataFrame,
    validation_risk: np.ndarray,
    column: str,
    threshold: float,
) -> dict[str, Any]:
    """Per-group thresholds equalising the false-positive rate, fitted on validation."""
    y_val = validation["label_known"].to_numpy().astype(int)
    group_val = validation[column].fillna("unknown").astype(str).to_numpy()
    genuine = y_val == 0
    target = float((validation_risk[genuine] >= threshold).mean()) if genuine.any() else 0.0
    thresholds: dict[str, float] = {}
    for name in np.unique(group):
        members = genuine & (group_val == name)
        if members.sum() < 50 or target <= 0:
            thresholds[str(name)] = threshold
            continue
        thresholds[str(name)] = float(np.quantile(validation_risk[members], 1.0 - target))
    per_row = np.array([thresholds.get(str(g), threshold) for g in group])
    mitigated = risk >= per_row
    before = risk >= threshold
    return {
        "method": "group thresholds equalising the false-positive rate (fitted on validation)",
        "thresholds": thresholds,
        "after": _rates(y, mitigated, group),
        "cost": {
            "precision_before": _precision(y, before),
            "precision_after": _precision(y, mitigated),
            "recall_before": _recall(y, before),
            "recall_after": _recall(y, mitigated),
            "accuracy_before": float((before == (y == 1)).mean()),
            "accuracy_after": float((mitigated == (y == 1)).mean()),
        },
    }


def _precision(y: np.ndarray, flagged: np.ndarray) -> float | None:
    return float(y[flagged].mean()) if flagged.any() else None


def _recall(y: np.ndarray, flagged: np.ndarray) -> float | None:
    return float(flagged[y == 1].mean()) if (y == 1).any() else None
