"""Population stability index (PSI) of every feature and of the score, between the training
period and recent traffic.

    PSI = sum over bins of (a - e) * ln(a / e)

with e and a the shares of the reference and of the current rows in each bin. Bins are the
reference's deciles (fewer when values repeat), plus one bin for missing values; empty shares
are floored at 1e-4 so a bin that appears or vanishes counts without dividing by zero. Rule of
thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FLOOR = 1e-4


def bin_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    values = reference[np.isfinite(reference)]
    if len(values) == 0:
        return np.array([])
    edges: np.ndarray = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1))[1:-1])
    return edges


def shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values per bin: (-inf, e1], (e1, e2], …, (ek, inf), then missing."""
    finite = np.isfinite(values)
    counts = np.bincount(
        np.searchsorted(edges, values[finite], side="left"), minlength=len(edges) + 1
    ).astype(np.float64)
    counts = np.append(counts, float((~finite).sum()))
    return counts / max(len(values), 1)


def psi(reference: np.ndarray, current: np.ndarray, edges: np.ndarray | None = None) -> float:
    edges = bin_edges(reference) if edges is None else edges
    e = np.maximum(shares(reference, edges), FLOOR)
    a = np.maximum(shares(current, edges), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_table(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]
) -> dict[str, float]:
    """PSI per column, largest shift first."""
    out = {
        name: psi(
            reference[name].to_numpy(dtype=np.float64, na_value=np.nan),
            current[name].to_numpy(dtype=np.float64, na_value=np.nan),
        )
        for name in columns
    }
    return dict(sorted(out.items(), key=lambda item: -item[1]))
