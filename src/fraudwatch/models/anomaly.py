"""Isolation Forest on the same features, for fraud patterns that have no labels yet.

Missing values are filled with the training medians (an Isolation Forest cannot split on NaN).
The raw anomaly score is mapped to its percentile among training transactions, so 0.999 means
"more unusual than 99.9 % of what the model learnt from" whatever the data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

QUANTILES = 1001
FILE = "isolation_forest.joblib"


@dataclass
class AnomalyDetector:
    forest: Any
    fill: np.ndarray
    quantiles: np.ndarray

    @classmethod
    def fit(
        cls, x: np.ndarray, *, trees: int = 100, seed: int = 0, threads: int = 1
    ) -> AnomalyDetector:
        from sklearn.ensemble import IsolationForest

        fill = np.nan_to_num(np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0))
        filled = _filled(x, fill)
        forest = IsolationForest(
            n_estimators=trees, max_samples=min(256, len(x)), random_state=seed, n_jobs=threads
        )
        forest.fit(filled)
        raw = -forest.score_samples(filled)
        quantiles = np.quantile(raw, np.linspace(0.0, 1.0, QUANTILES))
        return cls(forest, fill, quantiles)

    def raw(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = -self.forest.score_samples(_filled(x, self.fill))
        return out

    def percentile(self, x: np.ndarray) -> np.ndarray:
        """Share of training transactions less anomalous than each row, in [0, 1]."""
        out: np.ndarray = np.interp(self.raw(x), self.quantiles, np.linspace(0, 1, QUANTILES))
        return out

    def save(self, directory: Path) -> str:
        """Writes the forest (joblib) and returns its SHA-256, checked again on load."""
        import joblib  # type: ignore[import-untyped]

        path = directory / FILE
        joblib.dump(self.forest, path)
        np.savez(directory / "anomaly.npz", fill=self.fill, quantiles=self.quantiles)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    @classmethod
    def load(cls, directory: Path, sha256: str) -> AnomalyDetector:
        import joblib

        path = directory / FILE
        if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            # joblib files run code when loaded: only ever load the bytes we wrote.
            raise ValueError(f"{path} does not match the checksum recorded with the model")
        arrays = np.load(directory / "anomaly.npz")
        return cls(joblib.load(path), arrays["fill"], arrays["quantiles"])


def _filled(x: np.ndarray, fill: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, fill)
