"""LightGBM trees compiled to machine code with numba: the model's own dump flattened into node
arrays and walked by one jitted loop with LightGBM's exact decision rules (missing values,
zero as missing, categorical sets), summing leaf values in tree order like LightGBM does.

This is the compiled form `inference.Scorer` compares with LightGBM's predict. (lleaves, the
LLVM tree compiler, is tried first; with llvmlite ≥ 0.45 it cannot compile: its legacy pass
manager was removed.)
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

ZERO = 1.0000000180025095e-35  # LightGBM's kZeroThreshold (1e-35f)
MISSING = {"None": 0, "Zero": 1, "NaN": 2}


@numba.njit(cache=True, nogil=True)
def _margins(
    x: np.ndarray,
    roots: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    kind: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    leaf: np.ndarray,
    cat_start: np.ndarray,
    cat_end: np.ndarray,
    cats: np.ndarray,
    out: np.ndarray,
) -> None:
    # kind: bit 0-1 missing type (0 none, 1 zero, 2 nan), bit 2 default left, bit 3 categorical
    # trees outer, rows inner: a tree's nodes stay in cache across the batch; each row still
    # sums its leaves in tree order from 0.0 (bit for bit LightGBM's sum)
    for i in range(x.shape[0]):
        out[i] = 0.0
    for t in range(roots.shape[0]):
        for i in range(x.shape[0]):
            node = roots[t]
            while node >= 0:
                value = x[i, feature[node]]
                k = kind[node]
                if k & 8:
                    go_left = False
                    # LightGBM's int cast truncates: (-1, 0) is category 0; NaN goes right
                    if value > -1.0:
                        category = int(value)
                        for c in range(cat_start[node], cat_end[node]):
                            if cats[c] == category:
                                go_left = True
                                break
                else:
                    missing = k & 3
                    if np.isnan(value) and missing != 2:
                        value = 0.0
                    if (missing == 1 and -ZERO <= value <= ZERO) or (
                        missing == 2 and np.isnan(value)
                    ):
                        go_left = (k & 4) != 0
                    else:
                        go_left = value <= threshold[node]
                node = left[node] if go_left else right[node]
            out[i] += leaf[-node - 1]


class CompiledTrees:
    """Raw margins of a LightGBM booster, computed by the numba kernel."""

    def __init__(self, booster: Any, num_iteration: int | None = None) -> None:
        dump = booster.dump_model(num_iteration=num_iteration)
        self.arrays = _flatten([info["tree_structure"] for info in dump["tree_info"]])
        self.num_feature = int(dump["max_feature_idx"]) + 1

    def predict(self, x: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty(len(rows), dtype=np.float64)
        a = self.arrays
        _margins(
            rows,
            a["roots"],
            a["feature"],
            a["threshold"],
            a["kind"],
            a["left"],
            a["right"],
            a["leaf"],
            a["cat_start"],
            a["cat_end"],
            a["cats"],
            out,
        )
        return out


def _flatten(trees: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Node arrays of the trees: `roots` (per tree), the split nodes' `feature`, `threshold`,
    `kind`, `left`/`right` (node index >= 0 or -(leaf index + 1)), categorical sets
    (`cat_start`..`cat_end` into `cats`) and `count` (LightGBM's internal_count, the training
    rows reaching the node); the leaves' `leaf` values and `leaf_count`; and each tree's
    `expected` value, LightGBM's `Tree::ExpectedValue` (leaf values weighted by leaf counts,
    summed in LightGBM's leaf order; a single leaf's value), the SHAP bias of the tree. Counts
    missing from the dump are -1."""
    nodes: dict[str, list[Any]] = {
        k: []
        for k in ("feature", "threshold", "kind", "left", "right", "cat_start", "cat_end", "count")
    }
    leaves: list[float] = []
    leaf_counts: list[int] = []
    cats: list[int] = []
    roots: list[int] = []
    expected: list[float] = []
    tree_leaves: list[tuple[int, int, float]] = []  # (LightGBM leaf index, count, value)

    def add(node: dict[str, Any]) -> int:
        """Index of the node (>= 0) or -(leaf index + 1)."""
        if "split_index" not in node:
            leaves.append(float(node["leaf_value"]))
            leaf_counts.append(int(node.get("leaf_count", -1)))
            tree_leaves.append((int(node.get("leaf_index", 0)), leaf_counts[-1], leaves[-1]))
            return -len(leaves)
        index = len(nodes["feature"])
        for values in nodes.values():
            values.append(0)
        nodes["feature"][index] = int(node["split_feature"])
        nodes["count"][index] = int(node.get("internal_count", -1))
        kind = MISSING[node["missing_type"]] | (4 if node["default_left"] else 0)
        if node["decision_type"] == "==":
            kind |= 8
            members = [int(c) for c in str(node["threshold"]).split("||")]
            nodes["cat_start"][index] = len(cats)
            cats.extend(members)
            nodes["cat_end"][index] = len(cats)
            nodes["threshold"][index] = 0.0
        else:
            nodes["threshold"][index] = float(node["threshold"])
        nodes["kind"][index] = kind
        nodes["left"][index] = add(node["left_child"])
        nodes["right"][index] = add(node["right_child"])
        return index

    for tree in trees:
        tree_leaves.clear()
        roots.append(add(tree))
        if roots[-1] < 0:
            expected.append(tree_leaves[0][2])
        else:
            total = float(nodes["count"][roots[-1]])
            value = 0.0
            for _, count, leaf in sorted(tree_leaves):
                value += (count / total) * leaf
            expected.append(value)
    out = {
        name: np.asarray(values, dtype=np.float64 if name == "threshold" else np.int64)
        for name, values in nodes.items()
    }
    out["roots"] = np.asarray(roots, dtype=np.int64)
    out["leaf"] = np.asarray(leaves, dtype=np.float64)
    out["cats"] = np.asarray(cats or [-1], dtype=np.int64)
    out["leaf_count"] = np.asarray(leaf_counts, dtype=np.int64)
    out["expected"] = np.asarray(expected, dtype=np.float64)
    return out
