"""Behavioural features: one declaration, computed online (per event) and offline (SQL).

The notebook-facing API: define with `WindowFeature`, `Derived`, `PassThrough` or a YAML
`FeatureSet`, and look at the values over history with `preview`.
"""

from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import (
    Aggregation,
    Derived,
    DerivedKind,
    FeatureSet,
    Filter,
    PassThrough,
    WindowFeature,
)
from fraudwatch.features.preview import preview

__all__ = [
    "Aggregation",
    "Derived",
    "DerivedKind",
    "FeatureSet",
    "Filter",
    "PassThrough",
    "WindowFeature",
    "default_feature_set",
    "preview",
]
