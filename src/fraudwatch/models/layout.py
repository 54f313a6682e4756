"""The model's feature layout: which columns, in which order, and the vocabulary of each
categorical one. A model refuses input whose columns differ from its layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraudwatch.errors import FraudwatchError
from fraudwatch.models.dataset import CATEGORICAL_COLUMNS, EVENT_COLUMNS


class FeatureLayoutError(FraudwatchError):
    """Input columns differ from the layout the model was trained on."""

    code = "feature_layout"


@dataclass(frozen=True)
class FeatureLayout:
    columns: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    feature_set_version: str

    @classmethod
    def for_training(
        cls,
        rows: pd.DataFrame,
        feature_names: Sequence[str],
        version: str,
        *,
        event_columns: bool = True,
    ) -> FeatureLayout:
        """The feature set's columns, then (with `event_columns`) the event fields; categorical
        vocabularies from `rows` (the training rows only), sorted so they do not depend on row
        order. Without event columns the model reads the feature set alone, as the scoring
        pipeline's feature matrix holds it."""
        if not event_columns:
            return cls(tuple(feature_names), {}, version)
        categories = {
            name: tuple(sorted(str(v) for v in rows[name].dropna().unique()))
            for name in CATEGORICAL_COLUMNS
        }
        return cls((*feature_names, *EVENT_COLUMNS, *CATEGORICAL_COLUMNS), categories, version)

    @property
    def categorical_indexes(self) -> list[int]:
        return [self.columns.index(name) for name in self.categories]

    def check(self, names: Sequence[str]) -> None:
        if tuple(names) != self.columns:
            missing = [c for c in self.columns if c not in set(names)]
            extra = [c for c in names if c not in set(self.columns)]
            raise FeatureLayoutError(
                f"input columns differ from the model's layout (feature set "
                f"{self.feature_set_version}): missing {missing[:5]}, unexpected {extra[:5]}"
                + ("" if missing or extra else ", same names in another order")
            )

    def matrix(self, rows: pd.DataFrame) -> np.ndarray:
        """The model input of `rows` (which may hold more columns), categories encoded."""
        missing = [c for c in self.columns if c not in rows.columns]
        if missing:
            raise FeatureLayoutError(f"input lacks the model's columns {missing[:5]}")
        out = np.empty((len(rows), len(self.columns)), dtype=np.float64)
        for index, name in enumerate(self.columns):
            if name in self.categories:
                out[:, index] = self.encode(name, rows[name])
            else:
                out[:, index] = rows[name].to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def encode(self, name: str, values: pd.Series) -> np.ndarray:
        codes = {value: float(i) for i, value in enumerate(self.categories[name])}
        out: np.ndarray = values.map(codes).to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def row(self, values: Mapping[str, Any]) -> np.ndarray:
        """One input row from a mapping of every layout column (categories as strings)."""
        if set(values) != set(self.columns):
            self.check(list(values))
        out = np.empty((1, len(self.columns)), dtype=np.float64)
        for index, name in enumerate(self.columns):
            value = values[name]
            if name in self.categories:
                vocab = self.categories[name]
                out[0, index] = float(vocab.index(value)) if value in vocab else np.nan
            else:
                out[0, index] = np.nan if value is None else float(value)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "feature_set_version": self.feature_set_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureLayout:
        return cls(
            tuple(data["columns"]),
            {k: tuple(v) for k, v in data["categories"].items()},
            data["feature_set_version"],
        )
