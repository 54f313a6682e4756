"""Behavioural features: one declaration, computed online (per event) and offline (SQL).

The notebook-facing API: define with `WindowFeature`, `Derived`, `PassThrough` or a YAML
`FeatureSet`, and look at the values over history with `preview`.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    """`preview` is imported on first use: it pulls in every format and the offline engine,
    which importing a definition (every command does) should not pay for."""
    if name == "preview":
        from fraudwatch.features.preview import preview

        globals()["preview"] = preview  # the function, not the submodule of the same name
        return preview
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
