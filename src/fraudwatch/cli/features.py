"""`fraudwatch features`: list the definitions, build training sets, check online/offline parity."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pyarrow.parquet as pq
import typer

from fraudwatch.bootstrap import Container
from fraudwatch.cli.common import JsonOption, as_utc, container, parse_options
from fraudwatch.cli.output import console, emit_json, progress_bar, table
from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.history import (
    History,
    load_history,
    load_history_from_store,
    summary,
    with_pass_through,
)
from fraudwatch.features.parity import compare
from fraudwatch.features.rows import label_table, micros, tx_table

features_app = typer.Typer(
    help="Feature definitions, point-in-time training sets, online/offline parity.",
    no_args_is_help=True,
)

FormatOption = Annotated[
    str,
    typer.Option("--format", "-f", help="Source format, as in ingest; `store` reads the store."),
]
PathArgument = Annotated[
    str | None, typer.Argument(help="File or directory to read (none with --format store).")
]
SetOption = Annotated[
    Path | None, typer.Option("--feature-set", help="YAML feature set (default: the built-in one).")
]
OptionOption = Annotated[
    list[str] | None, typer.Option("--option", "-o", help="Format option key=value.")
]


def _feature_set(path: Path | None) -> FeatureSet:
    return FeatureSet.load(path) if path else default_feature_set()


def read_history(
    app: Container, format: str, path: str | None, options: list[str] | None, show: bool
) -> History:
    if format == "store":
        return load_history_from_store(app.store, default_locator())
    if path is None:
        raise typer.BadParameter("give the file or directory to read", param_hint="PATH")
    with progress_bar(f"read {format}", enabled=show) as update:
        ctx = IngestContext(
            tokenizer=app.tokenizer, source=format, options=parse_options(options), progress=update
        )
        return load_history(format, path, ctx, default_locator())


@features_app.command("list")
def list_command(feature_set: SetOption = None, json_output: JsonOption = False) -> None:
    """The feature definitions, their derived names and the set's version."""
    features = _feature_set(feature_set)
    if json_output:
        emit_json({"name": features.name, "version": features.version, **features.as_dict()})
        return
    table(
        f"feature set {features.name!r} version {features.version} ({len(features)} features)",
        ["name", "definition"],
        [[d.name, str(d.as_dict())] for d in features],
    )


@features_app.command("build")
def build_command(
    format: FormatOption,
    out: Annotated[Path, typer.Option(help="Parquet file to write.")],
    path: PathArgument = None,
    feature_set: SetOption = None,
    as_of: Annotated[
        datetime | None, typer.Option(help="Labels known by this time (UTC); default: all.")
    ] = None,
    option: OptionOption = None,
    json_output: JsonOption = False,
) -> None:
    """Build a point-in-time-correct training set: each transaction's features as the online
    engine computed them when it arrived, and its label if known by --as-of."""
    from fraudwatch.features.offline import build_training_set

    started = time.perf_counter()
    with container() as app:
        history = read_history(app, format, path, option, not json_output)
    attributes = history.attribute_names()
    features = with_pass_through(_feature_set(feature_set), attributes)
    cutoff = None if as_of is None else micros(as_utc(as_of))
    result = build_training_set(
        features,
        tx_table(history.transactions, attributes),
        label_table(history.labels),
        as_of_us=cutoff,
    )
    metadata = {
        b"fraudwatch.feature_set": features.to_yaml().encode(),
        b"fraudwatch.feature_set_version": features.version.encode(),
    }
    result = result.replace_schema_metadata({**(result.schema.metadata or {}), **metadata})
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(result, out)
    seconds = time.perf_counter() - started
    report = {
        **summary(history),
        "rows": result.num_rows,
        "features": len(features),
        "feature_set_version": features.version,
        "out": str(out),
        "seconds": round(seconds, 2),
        "rows_per_second": round(result.num_rows / seconds) if seconds else None,
    }
    if json_output:
        emit_json(report)
    else:
        console.print(
            f"wrote {result.num_rows:,} rows x {len(features)} features "
            f"(set {features.version}) to {out} in {seconds:.1f} s"
        )


@features_app.command("parity")
def parity_command(
    format: FormatOption,
    path: PathArgument = None,
    feature_set: SetOption = None,
    option: OptionOption = None,
    json_output: JsonOption = False,
) -> None:
    """Replay a stream through the online and the offline engine and compare every feature
    (exact, floats at 1e-9 relative). Exits 1 when anything differs."""
    from fraudwatch.features.offline import OfflineEngine
    from fraudwatch.features.online import online_engine

    with container() as app:
        history = read_history(app, format, path, option, not json_output)
    attributes = history.attribute_names()
    features = with_pass_through(_feature_set(feature_set), attributes)
    stream = history.stream
    started = time.perf_counter()
    online = online_engine(features).process_batch(stream).matrix  # the native engine
    online_seconds = time.perf_counter() - started
    offline_table = OfflineEngine(features).compute(
        tx_table(history.transactions, attributes), label_table(history.labels)
    )
    offline_seconds = time.perf_counter() - started - online_seconds
    report = compare(features, stream, online, offline_table)
    report.update(
        {
            **summary(history),
            "feature_set_version": features.version,
            "online_seconds": round(online_seconds, 2),
            "offline_seconds": round(offline_seconds, 2),
        }
    )
    if json_output:
        emit_json(report)
    else:
        _print_parity(report)
    if report["mismatches"]:
        raise typer.Exit(1)


def _print_parity(report: dict[str, Any]) -> None:
    rows = [
        [name, item["compared"], item["mismatches"], f"{item['mismatch_rate']:.2e}"]
        for name, item in report["features"].items()
        if item["mismatches"] or len(report["features"]) <= 100
    ]
    table("parity per feature", ["feature", "compared", "mismatches", "rate"], rows)
    verdict = (
        "[green]zero mismatches[/green]" if not report["mismatches"] else "[red]MISMATCHES[/red]"
    )
    console.print(
        f"{report['rows']:,} transactions, {len(report['features'])} features: {verdict} "
        f"(online {report['online_seconds']} s, offline {report['offline_seconds']} s)"
    )
