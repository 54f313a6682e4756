"""The numba TreeSHAP explainer equals LightGBM's pred_contrib (tiny boosters trained here)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fraudwatch.models.classifier import LightGBMModel
from fraudwatch.models.compiled import CompiledTrees
from fraudwatch.models.treeshap import TreeExplainer

lgb = pytest.importorskip("lightgbm")

TOLERANCE = 1e-9


def _booster(x: np.ndarray, y: np.ndarray, rounds: int = 30, **params: Any) -> Any:
    base = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 3}
    categorical = params.pop("categorical_feature", "auto")
    data = lgb.Dataset(x, y, categorical_feature=categorical)
    return lgb.train({**base, **params}, data, num_boost_round=rounds)


def _assert_equal(booster: Any, probe: np.ndarray, num_iteration: int | None = None) -> float:
    expected = booster.predict(probe, pred_contrib=True, num_iteration=num_iteration)
    got = TreeExplainer(booster, num_iteration).contributions(probe)
    assert got.shape == expected.shape == (len(probe), booster.num_feature() + 1)
    difference = float(np.abs(got - expected).max())
    assert difference <= TOLERANCE
    margin = booster.predict(probe, raw_score=True, num_iteration=num_iteration)
    np.testing.assert_allclose(got.sum(axis=1), margin, rtol=0, atol=TOLERANCE)
    return difference


def _splits(booster: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        if "split_index" in node:
            out.append(node)
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return out


def _depth(node: dict[str, Any]) -> int:
    if "split_index" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def _data(seed: int, rows: int = 3000, features: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    signal = x[:, 0] + x[:, 1] * x[:, 2] - 0.5 * np.abs(x[:, 3]) + rng.normal(size=rows)
    return x, (signal > 0.3).astype(int)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_lightgbm_with_nan_missing_values(seed: int) -> None:
    x, y = _data(seed)
    rng = np.random.default_rng(seed + 100)
    x[rng.random(x.shape) < 0.15] = np.nan  # training NaNs: missing type NaN
    booster = _booster(x, y, num_leaves=int(rng.integers(4, 40)), min_data_in_leaf=5)
    kinds = {(node["missing_type"], node["default_left"]) for node in _splits(booster)}
    assert ("NaN", True) in kinds and ("NaN", False) in kinds
    probe = x[:400].copy()
    probe[rng.random(probe.shape) < 0.2] = np.nan
    probe[rng.random(probe.shape) < 0.05] = 0.0
    _assert_equal(booster, probe)


def test_equals_lightgbm_with_zero_as_missing() -> None:
    x, y = _data(4)
    rng = np.random.default_rng(5)
    x[rng.random(x.shape) < 0.2] = 0.0
    booster = _booster(x, y, zero_as_missing=True, num_leaves=24, min_data_in_leaf=5)
    kinds = {(node["missing_type"], node["default_left"]) for node in _splits(booster)}
    assert ("Zero", True) in kinds and ("Zero", False) in kinds
    probe = x[:400].copy()
    probe[rng.random(probe.shape) < 0.1] = np.nan
    probe[rng.random(probe.shape) < 0.1] = 1e-40  # |value| under LightGBM's zero threshold
    _assert_equal(booster, probe)


def test_equals_lightgbm_without_missing_values_in_training() -> None:
    x, y = _data(6)
    booster = _booster(x, y, num_leaves=16)
    assert {node["missing_type"] for node in _splits(booster)} == {"None"}
    probe = x[:300].copy()
    probe[np.random.default_rng(7).random(probe.shape) < 0.2] = np.nan  # taken as 0.0
    _assert_equal(booster, probe)


def test_equals_lightgbm_with_categorical_splits() -> None:
    rng = np.random.default_rng(8)
    rows = 4000
    x = np.column_stack(
        [rng.integers(0, 8, rows).astype(float), rng.normal(size=rows), rng.normal(size=rows)]
    )
    x[rng.random(rows) < 0.1, 0] = np.nan
    y = (np.isin(x[:, 0], [0, 3, 5]) ^ (x[:, 1] + 0.5 * x[:, 2] > 1.0)).astype(int)
    booster = _booster(
        x,
        y,
        categorical_feature=[0],
        min_data_per_group=5,
        cat_smooth=1,
        num_leaves=12,
        min_data_in_leaf=5,
    )
    assert any(node["decision_type"] == "==" for node in _splits(booster))
    odd = [[-0.5, 0.0, 0.0], [-1.0, 1.0, 0.0], [-3.0, 0.0, 1.0], [3.7, 0.0, 0.0], [1e10, 0, 0]]
    probe = np.vstack([x[:400], odd, [[np.nan, 0.0, 0.0], [99.0, 2.0, -1.0]]])
    _assert_equal(booster, probe)
    # the compiled margins follow the same rules ((-1, 0) is category 0)
    np.testing.assert_array_equal(
        CompiledTrees(booster).predict(probe), booster.predict(probe, raw_score=True)
    )


def test_equals_lightgbm_on_trees_deeper_than_15() -> None:
    rng = np.random.default_rng(9)
    rows, features = 6000, 20
    x = rng.normal(size=(rows, features))
    x[rng.random(x.shape) < 0.03] = np.nan
    # positive only when every feature is above -1.2: long paths through distinct features
    y = (np.nan_to_num(x) > -1.2).all(axis=1).astype(int)
    booster = _booster(x, y, rounds=6, num_leaves=64, min_data_in_leaf=2, min_sum_hessian_in_leaf=0)
    depth = max(_depth(t["tree_structure"]) for t in booster.dump_model()["tree_info"])
    assert depth > 15
    # paths through up to 20 distinct features: 10 quadrature points
    assert TreeExplainer(booster).layout["points_of"].max() >= 9
    _assert_equal(booster, x[:300])


def test_equals_lightgbm_with_a_single_leaf_tree() -> None:
    x, y = _data(10, rows=400)
    first = _booster(x, y, rounds=1, min_data_in_leaf=300)  # cannot split: one leaf
    assert "split_index" not in first.dump_model()["tree_info"][0]["tree_structure"]
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1, "min_data_in_leaf": 10},
        lgb.Dataset(x, y),
        num_boost_round=5,
        init_model=first,
    )
    assert booster.num_trees() == 6
    _assert_equal(booster, x[:100])
    _assert_equal(first, x[:10])  # a model of one single-leaf tree: only the bias


@pytest.mark.parametrize("num_iteration", [1, 7, 20])
def test_equals_lightgbm_with_fewer_iterations(num_iteration: int) -> None:
    x, y = _data(11)
    x[np.random.default_rng(12).random(x.shape) < 0.1] = np.nan
    booster = _booster(x, y, rounds=25, num_leaves=20)
    _assert_equal(booster, x[:200], num_iteration=num_iteration)


def test_empty_batch_and_wrong_width() -> None:
    x, y = _data(13, rows=500)
    booster = _booster(x, y, rounds=5)
    explainer = TreeExplainer(booster)
    assert explainer.contributions(x[:0]).shape == (0, x.shape[1] + 1)
    with pytest.raises(ValueError):
        explainer.contributions(x[:, :-1])


def test_classifier_uses_the_explainer_and_falls_back_to_lightgbm() -> None:
    x, y = _data(14, rows=1000)
    model = LightGBMModel(_booster(x, y, rounds=10))
    out = model.contributions(x[:50])
    assert isinstance(model._explainer, TreeExplainer)
    expected = model.booster.predict(x[:50], pred_contrib=True)
    assert np.abs(out - expected).max() <= TOLERANCE

    labels = np.arange(len(x)) % 3  # multiclass: the explainer is for one tree per iteration
    multiclass = LightGBMModel(
        lgb.train(
            {"objective": "multiclass", "num_class": 3, "verbosity": -1},
            lgb.Dataset(x, labels),
            num_boost_round=3,
        )
    )
    fallback = multiclass.contributions(x[:5])
    assert multiclass._explainer is None
    np.testing.assert_array_equal(fallback, multiclass.booster.predict(x[:5], pred_contrib=True))
