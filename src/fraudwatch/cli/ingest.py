"""`fraudwatch ingest` and `fraudwatch formats`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fraudwatch.bootstrap import Container
from fraudwatch.cli.common import JsonOption, container, parse_options
from fraudwatch.cli.output import console, emit_json, progress_bar, table
from fraudwatch.events.formats.base import IngestContext, format_names, get_format
from fraudwatch.events.ingest import Ingestion, IngestReport
from fraudwatch.security.masking import redact


def ingest_command(
    path: Annotated[str, typer.Argument(help="File, directory, URL (sql) or - for stdin.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="Source format; see `fraudwatch formats`.")
    ],
    source: Annotated[
        str | None, typer.Option(help="Name of the sending bank or gateway (default: per format).")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Format option key=value (repeatable)."),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Records per write batch.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Read a source, normalise it to canonical events and store them; bad records are
    dead-lettered with their reason, and read = accepted + duplicates + dead_lettered."""
    options = parse_options(option)
    if source:
        options["source"] = source
    with container() as app:
        report = run_ingest(app, path, format, options, batch_size, progress=not json_output)
    if json_output:
        emit_json(report.as_dict())
    else:
        print_report(report)
    if not report.balanced:  # pragma: no cover - the pipeline guarantees it
        raise typer.Exit(3)


def run_ingest(
    app: Container,
    path: str,
    format: str,
    options: dict[str, str],
    batch_size: int | None,
    *,
    progress: bool = True,
) -> IngestReport:
    reader = get_format(format)
    options = _with_settings(app, format, options)
    source = options.get("source") or Path(path).name
    checkpoint_prefix = f"{format}:{redact(path)}:"  # a URL's password never reaches the store
    saved = app.store.load_checkpoints(checkpoint_prefix)
    with progress_bar(f"ingest {format}", enabled=progress) as update:
        ctx = IngestContext(
            tokenizer=app.tokenizer,
            source=source,
            options=options,
            progress=update,
            checkpoints={k.removeprefix(checkpoint_prefix): v for k, v in saved.items()},
        )
        records = reader.read(path, ctx)
        ingestion = Ingestion(
            app.store,
            source=source,
            format=format,
            batch_size=batch_size or app.settings.ingest_batch_size,
            checkpoint_prefix=checkpoint_prefix,
        )
        return ingestion.run(records)


def _with_settings(app: Container, format: str, options: dict[str, str]) -> dict[str, str]:
    """Format options that settings provide when the command line does not."""
    merged = dict(options)
    if format == "bank-csv":
        merged.setdefault("timezone", app.settings.bank_csv_timezone)
    log_type = merged.get("log_type")
    if format == "applog" and log_type in app.settings.log_patterns and "pattern" not in merged:
        merged["pattern"] = app.settings.log_patterns[log_type]
    return merged


def print_report(report: IngestReport) -> None:
    rows: list[list[object]] = [
        ["read", report.read],
        ["accepted", report.accepted],
        ["duplicates", report.duplicates],
        ["dead-lettered", report.dead_lettered],
    ]
    rows += [[f"  {reason}", count] for reason, count in sorted(report.by_reason.items())]
    rows += [[f"stored {kind}s", count] for kind, count in sorted(report.events.items())]
    rate = f"{report.read / report.seconds:,.0f} records/s" if report.seconds else ""
    table(
        f"{report.format} from {report.source} ({report.seconds:.1f} s, {rate})",
        ["", "records"],
        rows,
    )


def formats_command(json_output: JsonOption = False) -> None:
    """List the source formats `fraudwatch ingest --format` understands."""
    entries = {name: get_format(name).summary for name in format_names()}
    if json_output:
        emit_json({"formats": entries})
        return
    for name, summary in entries.items():
        console.print(f"[bold]{name:14}[/bold] {summary}")
