"""Exact tree SHAP contributions of a LightGBM booster in linear time per tree, compiled by numba.

The values are those of LightGBM's `predict(pred_contrib=True)` (Lundberg et al.'s
path-dependent TreeSHAP, Algorithm 2, O(T·L·D²)), computed in O(T·N·K) per row: N nodes per
tree, K = ceil(d / 2) quadrature points for trees whose root-to-leaf paths split on at most d
distinct features. The formulation is Linear TreeSHAP's (Yu et al. 2022) with Gauss-Legendre
quadrature in place of its polynomial interpolation:

For a leaf l with value v reached through the distinct features F(l), each feature j has a cover
fraction q_j (the product of child/parent training-row counts over the path's splits on j) and
p_j in {0, 1} (whether the row takes all of those splits). Writing f_j(t) = q_j + t (p_j - q_j),
the leaf adds to feature i

    v (p_i - q_i) Σ_S |S|! (d - |S| - 1)! / d! Π_{j∈S} p_j Π_{j∉S, j≠i} q_j
        = ∫_0^1 v (p_i - q_i) Π_{j≠i} f_j(t) dt            (Beta integral of the weights)
        = ∫_0^1 H_l(t) g_i(t) dt,  H_l = v Π_j f_j,  g_i = (p_i - q_i) / f_i,

a polynomial of degree d - 1 < 2K, which K Gauss-Legendre points integrate exactly. Over the
edges that split on i along the path, g_i telescopes: g_i = Σ_edges (g after - g before), so
each edge e into node c contributes Σ_k w_k (g_after - g_before)(t_k) S_c(t_k), where
S_c = Σ_{leaves under c} H_l. One pass down the tree (in preorder) carries Π_j f_j at the K
points, one pass up sums S, and every node is visited twice. The bias column is LightGBM's
`Tree::ExpectedValue` summed over the trees.

The integrand's factors lie in (0, 1] at the quadrature points and the weights are positive, so
the result agrees with LightGBM's to rounding (1e-15 relative); the tests hold it to 1e-9.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from fraudwatch.models.compiled import ZERO, _flatten


@numba.njit(cache=True, nogil=True)
def _contributions(
    x: np.ndarray,
    start: np.ndarray,
    inner_end: np.ndarray,
    points_of: np.ndarray,
    parent: np.ndarray,
    split: np.ndarray,
    edge_feature: np.ndarray,
    is_left: np.ndarray,
    previous: np.ndarray,
    offset: np.ndarray,
    table: np.ndarray,
    ratio: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    kind: np.ndarray,
    cat_start: np.ndarray,
    cat_end: np.ndarray,
    cats: np.ndarray,
    bias: float,
    out: np.ndarray,
) -> None:
    """Tree t's nodes are start[t]..start[t+1], numbered from 0 in the tree: its split nodes in
    preorder (the root 0) up to inner_end[t], then its leaves. Per node: parent (-1 at the
    root), split (index into the split-node arrays), edge_feature (the parent's split feature),
    is_left, previous (the node whose edge last split on the same feature on the path, or the
    largest tree's size if none: a slot that stays at p = 1).

    The edge into node g has three cases of the feature's p before / after it: 1 / 1, 1 / 0,
    0 / 0; for case c < 2, table[offset[g] + 2 K c:][:K] holds the factor r_k that takes the path
    product Π_j f_j(t_k) from the parent to the node, and the next K values a_k =
    w_k (g after - g before)(t_k), what the node's S(t_k) adds to the feature's contribution;
    for a leaf, with its value v: v r_k and v r_k a_k. Case 0 / 0 has r_k = q / q_before at
    every point and a_k = 0: ratio[g] holds that one factor (v times it for a leaf), and the
    edge adds nothing to the contribution (a third less table to read per row)."""
    n_trees = start.shape[0] - 1
    size = 1
    k_max = 1
    for t in range(n_trees):
        size = max(size, start[t + 1] - start[t])
        k_max = max(k_max, points_of[t])
    path = np.empty((size, k_max))  # Π_j f_j(t_k) over the path to a split node
    below = np.empty((size, k_max))  # S(t_k): Σ over the leaves under it of v Π_j f_j(t_k)
    chosen = np.empty(size, dtype=np.int64)  # where its edge's w_k (g after - g before) start
    left_taken = np.zeros(size, dtype=np.bool_)  # the row's decision at a split node
    ones = np.ones(size + 1, dtype=np.bool_)  # p of the edge's feature after the edge
    n_features = out.shape[1] - 1
    for i in range(x.shape[0]):
        for f in range(n_features):
            out[i, f] = 0.0
        out[i, n_features] = bias
    for t in range(n_trees):  # trees outer: a tree's table stays in cache over the batch
        lo = start[t]
        splits = inner_end[t] - lo
        m = start[t + 1] - lo
        if m == 1:
            continue
        kk = points_of[t]
        for i in range(x.shape[0]):
            row = x[i]
            phi = out[i]
            # the row's decisions, LightGBM's rules (those of compiled._margins)
            for n in range(splits):
                s = split[lo + n]
                fv = row[feature[s]]
                kd = kind[s]
                if kd & 8:
                    go_left = False
                    if fv > -1.0:  # int() truncates: (-1, 0) is category 0; NaN goes right
                        category = int(fv)
                        for c in range(cat_start[s], cat_end[s]):
                            if cats[c] == category:
                                go_left = True
                                break
                else:  # without branches: NaN and missing values are unpredictable
                    default_left = (kd & 4) != 0
                    missing = kd & 3
                    below_threshold = fv <= threshold[s]  # False for NaN
                    is_nan = np.isnan(fv)
                    nan_left = (default_left & (missing != 0)) | (
                        (missing == 0) & (threshold[s] >= 0.0)
                    )  # NaN is 0.0 unless the missing type is NaN; zero-as-missing: default
                    is_zero = (missing == 1) & (abs(fv) <= ZERO)
                    number_left = (is_zero & default_left) | (~is_zero & below_threshold)
                    go_left = (is_nan & nan_left) | (~is_nan & number_left)
                left_taken[n] = go_left
            # down the split nodes: path products
            for k in range(kk):
                path[0, k] = 1.0
                below[0, k] = 0.0
            for n in range(1, splits):
                g = lo + n
                up = parent[g]
                was_one = ones[previous[g]]
                now_one = was_one and is_left[g] == left_taken[up]
                ones[n] = now_one
                if not was_one:  # case 0 / 0: one factor, no contribution
                    chosen[n] = -1
                    factor = ratio[g]
                    for k in range(kk):
                        path[n, k] = path[up, k] * factor
                        below[n, k] = 0.0
                    continue
                base = offset[g] + 2 * kk * (1 - np.int64(now_one))
                chosen[n] = base + kk
                for k in range(kk):
                    path[n, k] = path[up, k] * table[base + k]
                    below[n, k] = 0.0
            # leaves: v Π_j f_j into the parent's S, and their edges' contributions
            for n in range(splits, m):
                g = lo + n
                up = parent[g]
                was_one = ones[previous[g]]
                if not was_one:  # case 0 / 0
                    factor = ratio[g]
                    for k in range(kk):
                        below[up, k] += path[up, k] * factor
                    continue
                now_one = is_left[g] == left_taken[up]
                base = offset[g] + 2 * kk * (1 - np.int64(now_one))
                total = 0.0
                for k in range(kk):
                    below[up, k] += path[up, k] * table[base + k]
                    total += path[up, k] * table[base + kk + k]
                phi[edge_feature[g]] += total
            # up the split nodes (children after parents): S to the parent, contributions
            for n in range(splits - 1, 0, -1):
                g = lo + n
                up = parent[g]
                base = chosen[n]
                if base < 0:  # case 0 / 0
                    for k in range(kk):
                        below[up, k] += below[n, k]
                    continue
                total = 0.0
                for k in range(kk):
                    total += table[base + k] * below[n, k]
                    below[up, k] += below[n, k]
                phi[edge_feature[g]] += total


class TreeExplainer:
    """Exact SHAP contributions of a binary LightGBM booster, laid out like LightGBM's
    `predict(x, pred_contrib=True)`: one column per feature, then the bias."""

    def __init__(self, booster: Any, num_iteration: int | None = None) -> None:
        dump = booster.dump_model(num_iteration=num_iteration)
        if int(dump.get("num_tree_per_iteration", 1)) != 1:
            raise ValueError("only models with one tree per iteration (binary, regression)")
        if dump.get("average_output"):
            raise ValueError("random forest models (averaged trees) are not supported")
        trees = [info["tree_structure"] for info in dump["tree_info"]]
        self.num_feature = int(dump["max_feature_idx"]) + 1
        self.arrays = _flatten(trees)
        for name in ("feature", "kind", "cat_start", "cat_end"):  # small numbers (see _layout)
            self.arrays[name] = self.arrays[name].astype(np.int32)
        self.layout = _layout(self.arrays)
        self.bias = 0.0
        for value in self.arrays["expected"]:
            self.bias += float(value)  # in tree order, like LightGBM's output[bias] +=

    def contributions(self, x: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(x, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.num_feature:
            raise ValueError(f"expected rows of {self.num_feature} features, got {rows.shape}")
        out = np.empty((rows.shape[0], self.num_feature + 1), dtype=np.float64)
        a, s = self.arrays, self.layout
        _contributions(
            rows,
            s["start"],
            s["inner_end"],
            s["points_of"],
            s["parent"],
            s["split"],
            s["edge_feature"],
            s["is_left"],
            s["previous"],
            s["offset"],
            s["table"],
            s["ratio"],
            a["feature"],
            a["threshold"],
            a["kind"],
            a["cat_start"],
            a["cat_end"],
            a["cats"],
            self.bias,
            out,
        )
        return out


def _layout(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every tree's nodes numbered from 0 per tree, its split nodes first (in preorder, the root
    0), then its leaves; per node what the kernel needs about the edge from its parent."""
    left, right, count, leaf_count = (
        arrays["left"],
        arrays["right"],
        arrays["count"],
        arrays["leaf_count"],
    )

    def cover(ref: int) -> float:
        c = int(count[ref]) if ref >= 0 else int(leaf_count[-ref - 1])
        if c <= 0:
            raise ValueError("the model has nodes without training counts (cover)")
        return float(c)

    names = ("parent", "split", "edge_feature", "is_left", "previous", "q", "q_before", "value")
    columns: dict[str, list[Any]] = {name: [] for name in names}
    start, inner_end, points_of, distinct = [0], [], [], []
    for root in arrays["roots"]:
        # preorder: (ref, parent, is left, edge feature, previous, q, q before); leaves ref < 0
        nodes: list[tuple[int, int, bool, int, int, float, float]] = []
        widest = 0
        # (node ref, parent's preorder index, is left child, feature -> (node, q) on the path)
        stack: list[tuple[int, int, bool, dict[int, tuple[int, float]]]] = [
            (int(root), -1, False, {})
        ]
        while stack:
            ref, up, is_left, seen = stack.pop()
            here = len(nodes)
            if up < 0:
                nodes.append((ref, -1, False, -1, -1, 1.0, 1.0))
            else:
                parent_ref = nodes[up][0]
                feature = int(arrays["feature"][parent_ref])
                previous, q_before = seen.get(feature, (-1, 1.0))
                q = q_before * (cover(ref) / cover(parent_ref))
                nodes.append((ref, up, is_left, feature, previous, q, q_before))
                seen = {**seen, feature: (here, q)}
            if ref >= 0:
                stack.append((int(right[ref]), here, False, seen))
                stack.append((int(left[ref]), here, True, seen))
            else:
                widest = max(widest, len(seen))
        order = [i for i, node in enumerate(nodes) if node[0] >= 0]
        splits = len(order)
        order += [i for i, node in enumerate(nodes) if node[0] < 0]
        number = {old: new for new, old in enumerate(order)}
        for old in order:
            ref, up, is_left, feature, previous, q, q_before = nodes[old]
            columns["parent"].append(number.get(up, -1))
            columns["split"].append(max(ref, -1))
            columns["edge_feature"].append(feature)
            columns["is_left"].append(is_left)
            columns["previous"].append(number.get(previous, -1))
            columns["q"].append(q)
            columns["q_before"].append(q_before)
            columns["value"].append(0.0 if ref >= 0 else float(arrays["leaf"][-ref - 1]))
        inner_end.append(start[-1] + splits)
        start.append(start[-1] + len(nodes))
        distinct.append(widest)
        points_of.append(max(1, math.ceil(widest / 2)))

    out = {
        name: np.asarray(v, dtype=np.float64 if name in ("q", "q_before", "value") else np.int64)
        for name, v in columns.items()
    }
    out["is_left"] = np.asarray(columns["is_left"], dtype=np.bool_)
    out["start"] = np.asarray(start, dtype=np.int64)
    out["inner_end"] = np.asarray(inner_end, dtype=np.int64)
    out["points_of"] = np.asarray(points_of, dtype=np.int64)
    out["distinct"] = np.asarray(distinct, dtype=np.int64)  # most distinct features on a path
    size = int(np.diff(out["start"]).max(initial=1))
    out["previous"][out["previous"] < 0] = size  # a slot the kernel keeps at p = 1
    out["offset"], out["table"], out["ratio"] = _edge_table(out)
    if len(out["table"]) < 2**31:  # 4-byte indexes: fewer bytes per row (-10 % of its time)
        for name in ("parent", "split", "edge_feature", "previous", "offset"):
            out[name] = out[name].astype(np.int32)
    return out


def _edge_table(layout: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per edge (non-root node), K points t_k and weights w_k (Gauss-Legendre on [0, 1]), the
    feature's cover fraction q after the edge and qb before it (1 on its first split on the
    path), f1(q) = q + t (1 - q), g1(q) = (1 - q) / f1(q), g0 = -1 / (1 - t):
    case p 1 -> 1: f1(q) / f1(qb), w (g1(q) - g1(qb)); case 1 -> 0: q (1 - t) / f1(qb),
    w (g0 - g1(qb)) in the table; case 0 -> 0: q / qb (the same at every point) and 0, the
    ratio. Leaves multiply the factors by v and the second values by the first (the kernel
    needs v r and v r a)."""
    start = layout["start"]
    k_of = np.repeat(layout["points_of"], np.diff(start))
    k_of[start[:-1]] = 0  # roots have no edge
    offset = np.zeros(len(k_of), dtype=np.int64)
    offset[1:] = np.cumsum(4 * k_of)[:-1]
    table = np.zeros(int(4 * k_of.sum()))
    q, qb, value = layout["q"], layout["q_before"], layout["value"]
    leaves = layout["split"] < 0
    ratio = np.where(k_of > 0, q / qb, 0.0)
    ratio[leaves] = value[leaves] * ratio[leaves]
    for k in np.unique(k_of[k_of > 0]):
        nodes, w = np.polynomial.legendre.leggauss(int(k))
        t, w = (nodes + 1.0) / 2.0, w / 2.0
        index = np.nonzero(k_of == k)[0]
        qe, qbe = q[index, None], qb[index, None]
        f1 = qe + t * (1.0 - qe)
        fb = qbe + t * (1.0 - qbe)
        gb = (1.0 - qbe) / fb
        cases = [
            f1 / fb,
            w * ((1.0 - qe) / f1 - gb),
            qe * (1.0 - t) / fb,
            w * (-1.0 / (1.0 - t) - gb),
        ]
        block = np.concatenate(cases, axis=1)  # (edges, 4 K)
        leaf = leaves[index]
        v = value[index][leaf, None]
        for c in range(2):  # leaves: v r, v r a
            r = block[leaf, 2 * c * k : (2 * c + 1) * k]  # copies
            a = block[leaf, (2 * c + 1) * k : (2 * c + 2) * k]
            block[leaf, 2 * c * k : (2 * c + 1) * k] = v * r
            block[leaf, (2 * c + 1) * k : (2 * c + 2) * k] = v * r * a
        cells = offset[index, None] + np.arange(4 * k)
        table[cells] = block
    return offset, table, ratio
