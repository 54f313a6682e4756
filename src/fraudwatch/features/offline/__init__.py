"""The offline feature engine: definitions compiled to SQL and run by DuckDB.

Point-in-time-correct by construction: every window is an exact frame over the order key
`(ts, seq)` and labels count only once known, so each row holds the features the online engine
returned when that transaction arrived (docs/features.md is the contract).
"""

from fraudwatch.features.offline.compiler import compile_feature_set
from fraudwatch.features.offline.engine import OfflineEngine, OfflineInputError, build_training_set

__all__ = ["OfflineEngine", "OfflineInputError", "build_training_set", "compile_feature_set"]
