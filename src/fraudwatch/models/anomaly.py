"""Isolation Forest on the same features, for fraud patterns that have no labels yet.

Trained with scikit-learn, then flattened into plain arrays (no pickle in the artefact) and
scored by a small numba kernel that walks the trees exactly as scikit-learn does (inputs
rounded to float32, path length = depth + c(leaf size), same summation order), so single-row
scoring costs microseconds instead of scikit-learn's per-call overhead.

Missing values are filled with the training medians (an Isolation Forest cannot split on NaN).
The raw score is mapped to its percentile among training transactions: 0.999 means "more
unusual than 99.9 % of what the model learnt from", whatever the data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

QUANTILES = 1001
QUANTILE_ROWS = 200_000  # training rows the percentiles are measured on
FILE = "anomaly.npz"
_LEVELS = np.linspace(0.0, 1.0, QUANTILES)  # the quantiles' levels


@numba.njit(cache=True, nogil=True)
def _path_lengths(
    x: np.ndarray,
    roots: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    value: np.ndarray,
    out: np.ndarray,
) -> None:
    for i in range(x.shape[0]):  # trees outer: a tree's nodes stay in cache over the batch
        out[i] = 0.0
    for t in range(roots.shape[0]):
        for i in range(x.shape[0]):
            node = roots[t]
            while left[node] != -1:
                node = left[node] if x[i, feature[node]] <= threshold[node] else right[node]
            out[i] += value[node]


@dataclass
class AnomalyDetector:
    arrays: dict[str, np.ndarray]

    @classmethod
    def fit(
        cls, x: np.ndarray, *, trees: int = 100, seed: int = 0, threads: int = 1
    ) -> AnomalyDetector:
        from sklearn.ensemble import IsolationForest

        finite = np.where(np.isfinite(x), x, np.nan)
        with warnings.catch_warnings():  # a column with no value at all gets 0
            warnings.simplefilter("ignore", RuntimeWarning)
            fill = np.nan_to_num(np.nanmedian(finite, axis=0)) if len(x) else np.zeros(x.shape[1])
        forest = IsolationForest(
            n_estimators=trees, max_samples=min(256, len(x)), random_state=seed, n_jobs=threads
        )
        forest.fit(_filled(x, fill))
        detector = cls({"fill": fill, **_flatten(forest)})
        rows = np.random.default_rng(seed).permutation(len(x))[:QUANTILE_ROWS]
        raw = detector.raw(x[np.sort(rows)])
        detector.arrays["quantiles"] = np.quantile(raw, _LEVELS)
        return detector

    def raw(self, x: np.ndarray) -> np.ndarray:
        """scikit-learn's `-score_samples`: 2^(-mean path length / c(max_samples))."""
        a = self.arrays
        rows = np.ascontiguousarray(_filled(x, a["fill"]).astype(np.float32), dtype=np.float64)
        depths = np.empty(len(rows), dtype=np.float64)
        _path_lengths(
            rows,
            a["roots"],
            a["feature"],
            a["threshold"],
            a["left"],
            a["right"],
            a["value"],
            depths,
        )
        denominator = float(a["denominator"][0])
        if denominator == 0:
            return np.ones(len(rows))
        out: np.ndarray = 2.0 ** (-depths / denominator)
        return out

    def percentile(self, x: np.ndarray) -> np.ndarray:
        """Share of training transactions less anomalous than each row, in [0, 1]."""
        out: np.ndarray = np.interp(self.raw(x), self.arrays["quantiles"], _LEVELS)
        return out

    def save(self, directory: Path) -> None:
        np.savez(directory / FILE, **self.arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, directory: Path) -> AnomalyDetector:
        with np.load(directory / FILE, allow_pickle=False) as data:
            return cls({name: data[name] for name in data.files})


def _flatten(forest: Any) -> dict[str, np.ndarray]:
    """The trees as concatenated node arrays; features mapped back to input columns."""
    from sklearn.ensemble._iforest import _average_path_length

    roots, feature, threshold, left, right, value = [], [], [], [], [], []
    offset = 0
    for index, (tree, features) in enumerate(
        zip(forest.estimators_, forest.estimators_features_, strict=True)
    ):
        t = tree.tree_
        leaf = t.children_left == -1
        roots.append(offset)
        feature.append(np.where(leaf, 0, np.asarray(features)[np.maximum(t.feature, 0)]))
        threshold.append(t.threshold)
        left.append(np.where(leaf, -1, t.children_left + offset))
        right.append(np.where(leaf, -1, t.children_right + offset))
        value.append(
            forest._decision_path_lengths[index] + forest._average_path_length_per_tree[index] - 1.0
        )
        offset += t.node_count
    denominator = len(forest.estimators_) * _average_path_length([forest._max_samples])[0]
    return {
        "roots": np.asarray(roots, dtype=np.int64),
        "feature": np.concatenate(feature).astype(np.int64),
        "threshold": np.concatenate(threshold).astype(np.float64),
        "left": np.concatenate(left).astype(np.int64),
        "right": np.concatenate(right).astype(np.int64),
        "value": np.concatenate(value).astype(np.float64),
        "denominator": np.array([denominator], dtype=np.float64),
    }


def _filled(x: np.ndarray, fill: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, fill)
