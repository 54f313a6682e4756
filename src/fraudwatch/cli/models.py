"""`fraudwatch train`, `evaluate`, `backtest` and `models` (the registry)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fraudwatch.bootstrap import Container
from fraudwatch.cli.common import JsonOption, container, parse_options
from fraudwatch.cli.output import console, emit_json, progress_bar, table
from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.enrich.ip import default_locator

if TYPE_CHECKING:  # the ML stack loads only when a model command runs
    from fraudwatch.models.dataset import LabelledHistory
    from fraudwatch.models.train import TrainOptions

FormatOption = Annotated[
    str,
    typer.Option("--format", "-f", help="Source format, as in ingest; `store` reads the store."),
]
OptionOption = Annotated[
    list[str] | None, typer.Option("--option", "-o", help="Format option key=value.")
]
SetOption = Annotated[
    Path | None, typer.Option("--feature-set", help="YAML feature set (default: the built-in one).")
]
TrainStart = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="First day of the train period (UTC)."),
]
TrainDays = Annotated[
    float | None, typer.Option(min=0.01, help="Days of training (default: what the data allows).")
]
DelayDays = Annotated[
    float | None,
    typer.Option(min=0, help="Gap between train and test = the label delay (default 10 %, ≤ 7)."),
]
TestDays = Annotated[
    float | None, typer.Option(min=0.01, help="Days of the test period (default: last 20 %).")
]
AlgorithmOption = Annotated[str, typer.Option("--algorithm", help="lightgbm or xgboost.")]
TreesOption = Annotated[int, typer.Option(min=1, help="Most boosting rounds (early stopping).")]
SearchOption = Annotated[
    float, typer.Option(min=0, help="Seconds of Optuna hyperparameter search (0: none).")
]
SeedOption = Annotated[int, typer.Option(help="Random seed.")]
ThreadsOption = Annotated[
    int,
    typer.Option(min=1, help="Training threads (1 wastes less CPU when the machine is shared)."),
]
KOption = Annotated[int, typer.Option("--k", min=1, help="Cards per day for card precision@k.")]


def _feature_set(path: Path | None) -> FeatureSet:
    return FeatureSet.load(path) if path else default_feature_set()


def load_data(
    app: Container, format: str, path: str | None, options: list[str] | None, show: bool
) -> LabelledHistory:
    from fraudwatch.models.dataset import load_labelled_history, load_store_history

    if format == "store":
        return load_store_history(app.store, default_locator())
    if path is None:
        raise typer.BadParameter("give the file or directory to read", param_hint="PATH")
    with progress_bar(f"read {format}", enabled=show) as update:
        ctx = IngestContext(
            tokenizer=app.tokenizer, source=format, options=parse_options(options), progress=update
        )
        return load_labelled_history(format, path, ctx, default_locator())


def _options(
    app: Container,
    algorithm: str,
    trees: int,
    search_seconds: float,
    seed: int,
    event_columns: bool = True,
    threads: int = 2,
) -> TrainOptions:
    from fraudwatch.models.blend import Thresholds
    from fraudwatch.models.classifier import Algorithm, ClassifierParams
    from fraudwatch.models.train import TrainOptions

    if algorithm not in ("lightgbm", "xgboost"):
        raise typer.BadParameter("lightgbm or xgboost", param_hint="--algorithm")
    chosen: Algorithm = "xgboost" if algorithm == "xgboost" else "lightgbm"
    params = ClassifierParams(algorithm=chosen, max_trees=trees, seed=seed, threads=threads)
    s, default = app.settings, Thresholds()
    configured = (s.review_threshold, s.step_up_threshold, s.block_threshold)
    # thresholds in the settings are kept; else they are chosen on the validation period
    thresholds = (
        None
        if all(value is None for value in configured)
        else Thresholds(
            default.review if s.review_threshold is None else s.review_threshold,
            default.step_up if s.step_up_threshold is None else s.step_up_threshold,
            default.block if s.block_threshold is None else s.block_threshold,
        )
    )
    return TrainOptions(
        params,
        search_seconds=search_seconds,
        thresholds=thresholds,
        event_columns=event_columns,
    )


def _periods(
    train_start: datetime | None,
    train_days: float | None,
    delay_days: float | None,
    test_days: float | None,
) -> Any:
    from fraudwatch.models.backtest import Periods

    return Periods(train_start.date() if train_start else None, train_days, delay_days, test_days)


def train_command(
    format: FormatOption,
    path: Annotated[str | None, typer.Argument(help="File or directory to read.")] = None,
    option: OptionOption = None,
    feature_set: SetOption = None,
    train_start: TrainStart = None,
    train_days: TrainDays = None,
    delay_days: DelayDays = None,
    test_days: TestDays = None,
    algorithm: AlgorithmOption = "lightgbm",
    trees: TreesOption = 400,
    search_seconds: SearchOption = 0.0,
    seed: SeedOption = 0,
    threads: ThreadsOption = 2,
    out: Annotated[
        Path | None, typer.Option(help="Model directory (default: under FRAUDWATCH_HOME/models).")
    ] = None,
    register: Annotated[
        bool, typer.Option(help="Log the run to MLflow and register the model as a candidate.")
    ] = True,
    event_columns: Annotated[
        bool,
        typer.Option(
            help="Also learn from amount, hour, channel, entry mode (off: the feature set alone,"
            " as the scoring pipeline serves it)."
        ),
    ] = True,
    json_output: JsonOption = False,
) -> None:
    """Train the risk model on a time split of a history: LightGBM (or XGBoost) with early
    stopping and calibration, an Isolation Forest, the blended score; saves the model and its
    test period for `fraudwatch evaluate`."""
    from fraudwatch.models.backtest import fit_on_history
    from fraudwatch.models.evaluate import save_evaluation_set

    started = time.perf_counter()
    with container() as app:
        options = _options(app, algorithm, trees, search_seconds, seed, event_columns, threads)
        history = load_data(app, format, path, option, not json_output)
        fitted = fit_on_history(
            history,
            _feature_set(feature_set),
            _periods(train_start, train_days, delay_days, test_days),
            options,
            source=f"{format}:{path or ''}",
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        directory = out or app.settings.resolved_models_dir / f"model-{stamp}"
        fitted.bundle.save(directory)
        save_evaluation_set(fitted.evaluation, directory)
        registered = None
        if register:
            from fraudwatch.models.evaluate import evaluate
            from fraudwatch.models.registry import ModelRegistry

            scores = evaluate(fitted.bundle, fitted.evaluation)
            metrics = {
                f"test_{name}": scores[name]
                for name in ("roc_auc", "average_precision", "card_precision_at_100")
            }
            registered = ModelRegistry.from_settings(app.settings).log_training(
                fitted.bundle, directory, metrics
            )
    meta = fitted.bundle.metadata
    report = {
        "model_dir": str(directory),
        "algorithm": fitted.bundle.classifier.algorithm,
        "feature_set_version": meta["feature_set_version"],
        "split": meta["split"],
        "train_rows": meta["train_rows"],
        "train_frauds": meta["train_frauds"],
        "validation_rows": meta["validation_rows"],
        "validation_frauds": meta["validation_frauds"],
        "test_rows": len(fitted.evaluation.rows),
        "trees": meta["trees"],
        "registered_version": registered,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if json_output:
        emit_json(report)
        return
    table(
        f"trained {report['algorithm']} model ({report['trees']} trees)",
        ["", "value"],
        [[k, v] for k, v in report.items() if k not in ("split", "algorithm", "trees")]
        + [[f"period {k}", str(v)] for k, v in meta["split"].items()],
    )


def _model_dir(app: Container, model: Path | None, stage: str | None) -> Path:
    if model is not None:
        return model
    if stage is not None:
        from fraudwatch.models.registry import ModelRegistry

        found: Path = ModelRegistry.from_settings(app.settings).download(stage)
        return found
    from fraudwatch.models.dataset import ModelDataError

    root = app.settings.resolved_models_dir
    candidates = sorted(root.glob("model-*")) if root.is_dir() else []
    if not candidates:
        raise ModelDataError(f"no trained model under {root}: run `fraudwatch train` first")
    return candidates[-1]


def evaluate_command(
    model: Annotated[
        Path | None, typer.Option(help="Model directory (default: the latest trained).")
    ] = None,
    stage: Annotated[
        str | None, typer.Option(help="Load the registered model at this stage instead.")
    ] = None,
    k: KOption = 100,
    html: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Metrics on the model's test period only: ROC AUC, average precision, precision/recall at
    the operating thresholds, recall at 0.1 % and 1 % FPR, card precision@k per day, money
    saved vs missed, recall per fraud scenario."""
    from fraudwatch.models.bundle import ModelBundle
    from fraudwatch.models.evaluate import evaluate, load_evaluation_set

    with container() as app:
        directory = _model_dir(app, model, stage)
    bundle = ModelBundle.load(directory)
    data = load_evaluation_set(directory)
    report = evaluate(bundle, data, k=k)
    report["model_dir"] = str(directory)
    if html is not None:
        from fraudwatch.models.report import write_report

        extra = write_report(bundle, data, report, html)
        report["html"] = str(html)
        report["fairness"] = extra["fairness"]
        report["drift"] = extra["drift"]
    if json_output:
        emit_json(report)
        return
    print_report(report, k)


def print_report(report: dict[str, Any], k: int) -> None:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    period = report["period"]
    rows: list[list[object]] = [
        ["period", f"{period['start'][:10]} .. {period['end'][:10]} ({period['days']} days)"],
        ["transactions / frauds", f"{report['transactions']:,} / {report['frauds']:,}"],
        ["ROC AUC", pct(report["roc_auc"])],
        ["average precision", pct(report["average_precision"])],
        [f"card precision@{k} (daily mean)", pct(report[f"card_precision_at_{k}"])],
        ["recall at 0.1 % FPR", pct(report["recall_at_0.1pct_fpr"])],
        ["recall at 1 % FPR", pct(report["recall_at_1pct_fpr"])],
    ]
    rule = report.get("operating_point", {}).get("rule", "configured")
    rows.append(["thresholds chosen by", rule])
    for name, at in report["thresholds"].items():
        rows.append(
            [
                f"{name} (risk ≥ {at['threshold']:.4g})",
                f"flagged {at['flagged']:,}  precision {pct(at['precision'])}  "
                f"recall {pct(at['recall'])}",
            ]
        )
    money = report["money_eur"]
    rows.append(
        [
            "money (EUR)",
            f"saved {money['saved']:,.2f} of {money['fraud_total']:,.2f}, "
            f"missed {money['missed']:,.2f}, genuine blocked {money['genuine_blocked']:,.2f}",
        ]
    )
    table("evaluation on the test period", ["metric", "value"], rows)
    if "recall_by_scenario" in report:
        table(
            "recall per fraud scenario",
            ["scenario", "frauds", "recall (any action)", "recall at 1 % FPR"],
            [
                [name, v["frauds"], pct(v["recall"]), pct(v["recall_at_1pct_fpr"])]
                for name, v in report["recall_by_scenario"].items()
            ],
        )
    if "html" in report:
        console.print(f"report: {report['html']}")


def backtest_command(
    dataset: Annotated[str, typer.Option("--dataset", help="File or directory of the history.")],
    format: FormatOption,
    train_start: TrainStart = None,
    train_days: TrainDays = None,
    delay_days: DelayDays = None,
    test_days: TestDays = None,
    option: OptionOption = None,
    feature_set: SetOption = None,
    algorithm: AlgorithmOption = "lightgbm",
    trees: TreesOption = 400,
    seed: SeedOption = 0,
    threads: ThreadsOption = 2,
    k: KOption = 100,
    json_output: JsonOption = False,
) -> None:
    """Replay a history: features as they were, train on the train window with the labels known
    when it would have been trained, skip the label delay, score the test window."""
    from fraudwatch.models.backtest import backtest

    started = time.perf_counter()
    with container() as app:
        loading, used = time.perf_counter(), time.process_time()
        history = load_data(app, format, dataset, option, not json_output)
        loaded, loaded_cpu = time.perf_counter() - loading, time.process_time() - used
        options = _options(app, algorithm, trees, 0.0, seed, threads=threads)
    report = backtest(
        history,
        _feature_set(feature_set),
        _periods(train_start, train_days, delay_days, test_days),
        options,
        source=f"{format}:{dataset}",
        k=k,
    )
    report["seconds"] = {
        "load": round(loaded, 2),
        **report["seconds"],
        "total": round(time.perf_counter() - started, 2),
    }
    report["cpu_seconds"] = {
        "load": round(loaded_cpu, 2),
        **report["cpu_seconds"],
        "total": round(time.process_time(), 2),  # the whole process, imports included
    }
    report["transactions_read"] = len(history.history.transactions)
    if json_output:
        emit_json(report)
        return
    print_report(report, k)
    console.print(
        f"backtest took {report['seconds']['total']:.1f} s ({report['seconds']}); "
        f"CPU {report['cpu_seconds']['total']:.1f} s ({report['cpu_seconds']})"
    )


models_app = typer.Typer(
    help="The model registry (MLflow): list and promote.", no_args_is_help=True
)


@models_app.command("list")
def list_command(json_output: JsonOption = False) -> None:
    """Registered versions with their stage (candidate, shadow, challenger, champion, archived)."""
    from fraudwatch.models.registry import ModelRegistry

    with container() as app:
        registry = ModelRegistry.from_settings(app.settings)
        versions = registry.versions()
    if json_output:
        emit_json({"model": registry.name, "versions": [v.as_dict() for v in versions]})
        return
    table(
        f"registered model {registry.name!r}",
        ["version", "stage", "feature set", "run"],
        [[v.version, v.stage, v.feature_set_version, v.run_id] for v in versions],
    )


@models_app.command("promote")
def promote_command(
    version: Annotated[int, typer.Argument(help="Registered version number.")],
    stage: Annotated[str, typer.Argument(help="shadow, challenger or champion (one step up).")],
    json_output: JsonOption = False,
) -> None:
    """Promote a version one stage up: candidate -> shadow -> challenger -> champion."""
    from fraudwatch.models.registry import ModelRegistry

    with container() as app:
        promoted = ModelRegistry.from_settings(app.settings).promote(version, stage)
    if json_output:
        emit_json(promoted.as_dict())
    else:
        console.print(f"version {promoted.version} is now {promoted.stage}")
