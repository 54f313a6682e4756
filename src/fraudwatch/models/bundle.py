"""The trained model as one artefact: classifier, calibration, anomaly detector, blend,
thresholds, feature layout and where it came from. Saved as a directory of text and NumPy files
(no pickle: loading a model never runs code)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudwatch.models.anomaly import AnomalyDetector
from fraudwatch.models.blend import Blend, Thresholds
from fraudwatch.models.calibrate import PlattCalibration
from fraudwatch.models.classifier import Classifier, load_classifier
from fraudwatch.models.layout import FeatureLayout, FeatureLayoutError

MANIFEST = "model.json"


@dataclass
class Scores:
    margin: np.ndarray
    probability: np.ndarray
    anomaly: np.ndarray
    risk: np.ndarray


@dataclass
class ModelBundle:
    classifier: Classifier
    layout: FeatureLayout
    calibration: PlattCalibration
    anomaly: AnomalyDetector
    blend: Blend
    thresholds: Thresholds
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold_rule(self) -> str:
        """How `thresholds` were chosen (for the scorer and its status page): "validation"
        (on the validation period, docs/models.md), "configured", or "fallback: <why>"."""
        return str(self.metadata.get("operating_point", {}).get("rule", "configured"))

    def layout_width_check(self, x: np.ndarray) -> None:
        if x.ndim != 2 or x.shape[1] != len(self.layout.columns):
            raise FeatureLayoutError(
                f"input has shape {x.shape}, the model takes {len(self.layout.columns)} columns"
            )

    def score_matrix(self, x: np.ndarray) -> Scores:
        self.layout_width_check(x)
        margin = self.classifier.margin(x)
        probability = self.calibration(margin)
        anomaly = self.anomaly.percentile(x)
        return Scores(margin, probability, anomaly, self.blend(probability, anomaly))

    def score_rows(self, rows: pd.DataFrame) -> Scores:
        return self.score_matrix(self.layout.matrix(rows))

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        self.classifier.save(directory)
        self.anomaly.save(directory)
        manifest = {
            "algorithm": self.classifier.algorithm,
            "best_iteration": self.classifier.best_iteration,
            "layout": self.layout.as_dict(),
            "calibration": {"a": self.calibration.a, "b": self.calibration.b},
            "blend": {"weight": self.blend.weight, "anomaly_floor": self.blend.anomaly_floor},
            "thresholds": self.thresholds.as_dict(),
            "metadata": self.metadata,
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path) -> ModelBundle:
        manifest = json.loads((directory / MANIFEST).read_text())
        return cls(
            classifier=load_classifier(manifest["algorithm"], directory),
            layout=FeatureLayout.from_dict(manifest["layout"]),
            calibration=PlattCalibration(**manifest["calibration"]),
            anomaly=AnomalyDetector.load(directory),
            blend=Blend(**manifest["blend"]),
            thresholds=Thresholds(**manifest["thresholds"]),
            metadata=manifest["metadata"],
        )
