"""The supervised classifier: LightGBM (default) or XGBoost, trained with early stopping on the
validation period and the class imbalance handled by weighting the rare class.

Imbalance: frauds get weight sqrt(genuine / fraud) — a moderate correction (full inverse
frequency over-weights a few hundred frauds and hurts precision); probabilities are recalibrated
afterwards anyway (`calibrate.py`). Both wrappers expose the raw margin (log-odds) and exact tree
SHAP contributions, and save themselves as text (no pickle).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

Algorithm = Literal["lightgbm", "xgboost"]


@dataclass
class ClassifierParams:
    algorithm: Algorithm = "lightgbm"
    max_trees: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 40
    feature_fraction: float = 0.8
    l2: float = 1.0
    early_stopping_rounds: int = 40
    threads: int = 2
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Classifier(Protocol):
    algorithm: str
    best_iteration: int

    def margin(self, x: np.ndarray) -> np.ndarray: ...
    def contributions(self, x: np.ndarray) -> np.ndarray: ...
    def save(self, directory: Path) -> None: ...


def positive_weight(y: np.ndarray) -> float:
    positives = int(y.sum())
    return math.sqrt((len(y) - positives) / positives) if positives else 1.0


class LightGBMModel:
    algorithm = "lightgbm"
    file = "lightgbm.txt"

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        best = booster.best_iteration  # 0 or -1 when training did not stop early / loaded
        self.best_iteration = int(best) if best and best > 0 else booster.current_iteration()
        self._explainer: Any = None  # treeshap.TreeExplainer, built on first use (at load to
        # serve: scoring/model.py)
        self._explainer_failed = False

    def margin(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.booster.predict(x, raw_score=True, num_threads=1)
        return out

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Exact SHAP contributions (the last column the bias), LightGBM's `pred_contrib`
        values computed by the numba explainer (`treeshap`), or by LightGBM if the explainer
        cannot be built for this booster."""
        if self._explainer is None and not self._explainer_failed:
            from fraudwatch.models.treeshap import TreeExplainer

            try:
                self._explainer = TreeExplainer(self.booster, self.best_iteration)
            except (ValueError, KeyError):
                self._explainer_failed = True
        if self._explainer is not None:
            contributions: np.ndarray = self._explainer.contributions(x)
            return contributions
        out: np.ndarray = self.booster.predict(x, pred_contrib=True, num_threads=1)
        return out

    def save(self, directory: Path) -> None:
        self.booster.save_model(str(directory / self.file), num_iteration=self.best_iteration)

    @classmethod
    def load(cls, directory: Path) -> LightGBMModel:
        import lightgbm as lgb

        return cls(lgb.Booster(model_file=str(directory / cls.file)))


class XGBoostModel:
    algorithm = "xgboost"
    file = "xgboost.json"

    def __init__(self, booster: Any, best_iteration: int | None = None) -> None:
        self.booster = booster
        self.best_iteration = best_iteration or int(booster.num_boosted_rounds())

    def _matrix(self, x: np.ndarray) -> Any:
        import xgboost as xgb

        return xgb.DMatrix(x, missing=np.nan)

    def margin(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.booster.predict(
            self._matrix(x), output_margin=True, iteration_range=(0, self.best_iteration)
        )
        return out.astype(np.float64)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.booster.predict(
            self._matrix(x), pred_contribs=True, iteration_range=(0, self.best_iteration)
        )
        return out.astype(np.float64)

    def save(self, directory: Path) -> None:
        self.booster[: self.best_iteration].save_model(str(directory / self.file))

    @classmethod
    def load(cls, directory: Path) -> XGBoostModel:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(directory / cls.file))
        return cls(booster)


def load_classifier(algorithm: str, directory: Path) -> Classifier:
    return XGBoostModel.load(directory) if algorithm == "xgboost" else LightGBMModel.load(directory)


def fit_classifier(
    params: ClassifierParams,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    feature_names: list[str],
    categorical: list[int],
) -> Classifier:
    """Train with early stopping on the validation period: LightGBM on ROC AUC (robust to the
    validation period's still-missing labels, which make log loss stop after a few trees),
    XGBoost on log loss weighted like training."""
    if params.algorithm == "xgboost":
        return _fit_xgboost(params, x_train, y_train, x_valid, y_valid)
    return _fit_lightgbm(params, x_train, y_train, x_valid, y_valid, feature_names, categorical)


def _fit_lightgbm(
    params: ClassifierParams,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    feature_names: list[str],
    categorical: list[int],
) -> Classifier:
    import lightgbm as lgb

    config = {
        "objective": "binary",
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "min_child_samples": params.min_child_samples,
        "feature_fraction": params.feature_fraction,
        # no row bagging: with a few hundred frauds it made the validation AUC fall tree after
        # tree (measured on 200k simulated transactions: 0.89 -> 0.61; without: 0.90 -> 0.94)
        "lambda_l2": params.l2,
        "scale_pos_weight": positive_weight(y_train),
        "metric": "auc",
        "num_threads": params.threads,
        "seed": params.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
        **params.extra,
    }
    train = lgb.Dataset(
        x_train,
        y_train,
        feature_name=feature_names,
        categorical_feature=categorical,
        free_raw_data=False,
    )
    callbacks: list[Any] = []
    valid_sets = []
    if len(y_valid):
        weight = np.where(y_valid == 1, positive_weight(y_train), 1.0)
        valid_sets = [lgb.Dataset(x_valid, y_valid, weight=weight, reference=train)]
        callbacks.append(lgb.early_stopping(params.early_stopping_rounds, verbose=False))
    booster = lgb.train(
        config,
        train,
        num_boost_round=params.max_trees,
        valid_sets=valid_sets,
        callbacks=callbacks,
    )
    return LightGBMModel(booster)


def _fit_xgboost(
    params: ClassifierParams,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
) -> Classifier:
    import xgboost as xgb

    config = {
        "objective": "binary:logistic",
        "eta": params.learning_rate,
        "max_leaves": params.num_leaves,
        "grow_policy": "lossguide",
        "tree_method": "hist",
        "min_child_weight": 1.0,
        "subsample": 0.8,
        "colsample_bytree": params.feature_fraction,
        "lambda": params.l2,
        "scale_pos_weight": positive_weight(y_train),
        "eval_metric": "logloss",
        "nthread": params.threads,
        "seed": params.seed,
        **params.extra,
    }
    train = xgb.DMatrix(x_train, y_train, missing=np.nan)
    weight = np.where(y_valid == 1, positive_weight(y_train), 1.0)
    evals = (
        [(xgb.DMatrix(x_valid, y_valid, weight=weight, missing=np.nan), "valid")]
        if len(y_valid)
        else []
    )
    booster = xgb.train(
        config,
        train,
        num_boost_round=params.max_trees,
        evals=evals,
        early_stopping_rounds=params.early_stopping_rounds if evals else None,
        verbose_eval=False,
    )
    best = getattr(booster, "best_iteration", None)
    return XGBoostModel(booster, None if best is None else int(best) + 1)


def search(
    params: ClassifierParams,
    seconds: float,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    feature_names: list[str],
    categorical: list[int],
) -> ClassifierParams:
    """Time-bounded Optuna search (TPE) of the main knobs, scored by average precision on the
    validation period — never on the test period."""
    import optuna
    from sklearn.metrics import average_precision_score

    x_train, y_train, x_valid, y_valid = data
    if not y_valid.any():
        return params
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    deadline = time.monotonic() + seconds

    def candidate(trial: Any) -> ClassifierParams:
        return ClassifierParams(
            **{
                **params.__dict__,
                "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
                "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
                "min_child_samples": trial.suggest_int("min_child_samples", 10, 300, log=True),
                "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
                "l2": trial.suggest_float("l2", 1e-3, 30.0, log=True),
            }
        )

    def objective(trial: Any) -> float:
        model = fit_classifier(
            candidate(trial), x_train, y_train, x_valid, y_valid, feature_names, categorical
        )
        return float(average_precision_score(y_valid, model.margin(x_valid)))

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=params.seed)
    )
    study.enqueue_trial(
        {
            "learning_rate": params.learning_rate,
            "num_leaves": params.num_leaves,
            "min_child_samples": params.min_child_samples,
            "feature_fraction": params.feature_fraction,
            "l2": params.l2,
        }
    )
    study.optimize(objective, timeout=max(deadline - time.monotonic(), 1.0), n_trials=1000)
    return candidate(study.best_trial)
