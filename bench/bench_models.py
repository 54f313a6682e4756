"""Detection models: training time, inference per row (single and batch, LightGBM's predict vs
the compiled trees), SHAP contributions per row (LightGBM's pred_contrib vs the numba
explainer), reason-code cost, and an end-to-end backtest.

Simulates canonical Parquet once, builds the feature frame (offline engine), trains on the
first 60 % of days with a 10 % gap, then measures on test-period rows. Every measurement prints
its runs and the median. With --shap-model, measures only SHAP per row on that LightGBM model
file, on rows drawn around its split thresholds (both algorithms visit every node of every
tree whatever the row, so their cost hardly depends on the rows).

    .venv/bin/python bench/bench_models.py [--transactions 200000] [--runs 3] [--trees 300]
    .venv/bin/python bench/bench_models.py --shap-model path/to/lightgbm.txt [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.models.classifier import ClassifierParams
from fraudwatch.models.compiled import CompiledTrees
from fraudwatch.models.dataset import build_frame, load_labelled_history
from fraudwatch.models.evaluate import evaluate, evaluation_set
from fraudwatch.models.inference import Scorer
from fraudwatch.models.reasons import reasons
from fraudwatch.models.split import TimeSplit
from fraudwatch.models.train import TrainOptions, train
from fraudwatch.models.treeshap import TreeExplainer
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.simulate import SimulationConfig, simulate


def median_line(what: str, values: list[float], unit: str) -> None:
    runs = ", ".join(f"{v:,.2f}" for v in values)
    print(f"  {what}: runs {runs} {unit}; median {statistics.median(values):,.2f} {unit}")


def per_row_batch(f: object, x: np.ndarray, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        f(x)  # type: ignore[operator]
        out.append((time.perf_counter() - started) / len(x) * 1e6)
    return out


def per_row_single(f: object, x: np.ndarray, runs: int, rows: int = 2000) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        for i in range(rows):
            f(x[i : i + 1])  # type: ignore[operator]
        out.append((time.perf_counter() - started) / rows * 1e6)
    return out


def per_row_batches(
    f: object, x: np.ndarray, runs: int, size: int = 30, rows: int = 600
) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        for i in range(0, rows, size):
            f(x[i : i + size])  # type: ignore[operator]
        out.append((time.perf_counter() - started) / rows * 1e6)
    return out


def shap_per_row(booster: Any, num_iteration: int, x: np.ndarray, runs: int) -> None:
    """LightGBM's pred_contrib (one thread) vs the numba explainer, one row and batches of 30."""
    explainer = TreeExplainer(booster, num_iteration)

    def native(rows: np.ndarray) -> np.ndarray:
        out: np.ndarray = booster.predict(
            rows, pred_contrib=True, num_iteration=num_iteration, num_threads=1
        )
        return out

    probe = x[:300]
    difference = np.abs(explainer.contributions(probe) - native(probe)).max()
    depth = explainer.layout["distinct"].max()
    print(
        f"SHAP contributions per row ({num_iteration} trees, paths through up to {depth} distinct "
        f"features; explainer - pred_contrib at most {difference:.1e} on 300 rows; one thread):"
    )
    median_line("LightGBM pred_contrib, one row", per_row_single(
        native, x, runs, rows=300), "µs")  # fmt: skip
    median_line("numba TreeExplainer, one row", per_row_single(
        explainer.contributions, x, runs, rows=300), "µs")  # fmt: skip
    median_line("LightGBM pred_contrib, batches of 30", per_row_batches(
        native, x, runs), "µs")  # fmt: skip
    median_line("numba TreeExplainer, batches of 30", per_row_batches(
        explainer.contributions, x, runs), "µs")  # fmt: skip


def rows_around_thresholds(booster: Any, n: int, seed: int = 0) -> np.ndarray:
    """Rows whose values sit near the model's split thresholds (either side), 5 % missing."""
    arrays = CompiledTrees(booster).arrays
    rng = np.random.default_rng(seed)
    x = np.zeros((n, booster.num_feature()))
    for j in range(x.shape[1]):
        thresholds = arrays["threshold"][arrays["feature"] == j]
        if len(thresholds):
            spread = thresholds.std() + 1e-3
            x[:, j] = rng.choice(thresholds, n) + rng.normal(0.0, spread / 10, n)
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--shap-model", type=Path, help="only SHAP per row on this model file")
    args = parser.parse_args()
    if args.shap_model:
        import lightgbm as lgb

        booster = lgb.Booster(model_file=str(args.shap_model))
        print(f"model: {args.shap_model}")
        x = rows_around_thresholds(booster, 1024)
        shap_per_row(booster, booster.current_iteration(), x, args.runs)
        return

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "sim"
        simulate(
            SimulationConfig(transactions=args.transactions, seed=1), str(directory), "parquet"
        )
        started = time.perf_counter()
        ctx = IngestContext(tokenizer=CardTokenizer(bytes(32)), source="sim")
        history = load_labelled_history("parquet", str(directory), ctx, default_locator())
        loaded = time.perf_counter() - started
    started = time.perf_counter()
    frame = build_frame(history, default_feature_set())
    featured = time.perf_counter() - started
    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=3, test_days=9)
    print(
        f"data: {args.transactions:,} simulated transactions (seed 1), default feature set "
        f"({len(frame.feature_names)} features); load {loaded:.1f} s, features {featured:.1f} s"
    )
    print(f"split: {split.as_dict()}")

    seconds, bundle = [], None
    for _ in range(args.runs):
        params = ClassifierParams(max_trees=args.trees, early_stopping_rounds=10_000)
        started = time.perf_counter()
        bundle = train(frame, split, TrainOptions(params))
        seconds.append(time.perf_counter() - started)
    assert bundle is not None
    meta = bundle.metadata
    print(
        f"training ({meta['train_rows']:,} rows, {meta['train_frauds']} frauds, "
        f"{bundle.classifier.best_iteration} trees x {params.num_leaves} leaves, "
        f"{len(bundle.layout.columns)} columns, 2 threads, + Isolation Forest, calibration):"
    )
    median_line("train", seconds, "s")
    chosen = ", ".join(f"{k} {v:.4g}" for k, v in bundle.thresholds.as_dict().items())
    print(f"thresholds ({meta['operating_point']['rule']}): {chosen}")

    data = evaluation_set(frame, split)
    report = evaluate(bundle, data)
    print(
        f"test period: {report['transactions']:,} rows, {report['frauds']} frauds; ROC AUC "
        f"{report['roc_auc']:.4f}, AP {report['average_precision']:.4f}, card precision@100 "
        f"{report['card_precision_at_100']:.4f}"
    )

    x = np.ascontiguousarray(bundle.layout.matrix(data.rows)[:1024])
    booster = bundle.classifier.booster  # type: ignore[attr-defined]
    compiled = CompiledTrees(booster)
    assert np.array_equal(compiled.predict(x), bundle.classifier.margin(x))
    print("inference per row, margins of the classifier (compiled == native exactly, 1,024 rows):")
    median_line("native Booster.predict, batch 1,024", per_row_batch(
        bundle.classifier.margin, x, args.runs * 3), "µs")  # fmt: skip
    median_line("compiled (numba), batch 1,024", per_row_batch(
        compiled.predict, x, args.runs * 3), "µs")  # fmt: skip
    median_line("native Booster.predict, one row", per_row_single(
        bundle.classifier.margin, x, args.runs), "µs")  # fmt: skip
    median_line("compiled (numba), one row", per_row_single(
        compiled.predict, x, args.runs), "µs")  # fmt: skip
    scorer = Scorer(bundle, probe=x)
    print(f"  Scorer picks: batch {scorer.choice.batch}, single {scorer.choice.single}")
    print("full score (margin + calibration + Isolation Forest + blend), with the Scorer:")
    median_line("batch 1,024", per_row_batch(scorer.score, x, args.runs * 3), "µs")
    median_line("one row", per_row_single(scorer.score, x, args.runs), "µs")
    shap_per_row(booster, bundle.classifier.best_iteration, x, args.runs)
    median_line(
        "reason codes (exact SHAP by the numba explainer + phrases), one row",
        per_row_single(lambda r: reasons(bundle, r), x, args.runs, rows=300),
        "µs",
    )
    median_line(
        "reason codes, batch 1,024",
        per_row_batch(lambda r: reasons(bundle, r), x, args.runs),
        "µs",
    )


if __name__ == "__main__":
    main()
