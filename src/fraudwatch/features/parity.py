"""Comparing the online and the offline engine, feature by feature (the parity check)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.rows import StreamItem, TxRow

RELATIVE_TOLERANCE = 1e-9


def compare(
    features: FeatureSet,
    stream: Sequence[StreamItem],
    online: npt.NDArray[np.float64],
    offline: pa.Table,
) -> dict[str, Any]:
    """Per feature: rows compared and mismatches (NaN equals NaN; floats at 1e-9 relative).

    `online` has one row per transaction of `stream`, in stream order; `offline` one row per
    transaction, identified by `seq`.
    """
    order = np.array([row.seq for row in stream if isinstance(row, TxRow)], dtype=np.int64)
    offline_by_seq = offline.sort_by("seq")
    per_feature: dict[str, dict[str, float]] = {}
    total = 0
    for index, name in enumerate(features.names):
        left = online[:, index]
        right = offline_by_seq.column(name).to_numpy(zero_copy_only=False).astype(np.float64)[order]
        both_nan = np.isnan(left) & np.isnan(right)
        close = np.isclose(left, right, rtol=RELATIVE_TOLERANCE, atol=0.0)
        mismatches = int((~(both_nan | close)).sum())
        total += mismatches
        per_feature[name] = {
            "compared": len(left),
            "mismatches": mismatches,
            "mismatch_rate": mismatches / len(left) if len(left) else 0.0,
        }
    return {"rows": len(order), "mismatches": total, "features": per_feature}
