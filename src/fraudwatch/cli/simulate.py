"""`fraudwatch simulate`: the synthetic multi-bank stream, deterministic for a seed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml

from fraudwatch.cli.common import JsonOption
from fraudwatch.cli.output import console, emit_json, progress_bar, table
from fraudwatch.errors import ConfigError
from fraudwatch.simulate import SimulationConfig, SimulationSummary, output_formats, simulate


def simulate_command(
    transactions: Annotated[int, typer.Option(min=1, help="Number of transactions.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 0,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="json, parquet, multi-bank, or a gateway format (cardnet-json, ...).",
        ),
    ] = "json",
    out: Annotated[str, typer.Option(help="Output file or directory; - for stdout (json).")] = "-",
    days: Annotated[int | None, typer.Option(min=1, help="Days covered by the stream.")] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (UTC).")] = None,
    customers: Annotated[int | None, typer.Option(min=1, help="Number of customers.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML file of simulation settings (scenario rates, ...).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Write a realistic multi-bank transaction stream with labelled fraud scenarios."""
    settings = _config(
        config, transactions=transactions, seed=seed, days=days, start=start, customers=customers
    )
    if format not in output_formats():
        raise typer.BadParameter(
            f"choose one of {', '.join(output_formats())}", param_hint="--format"
        )
    with progress_bar("simulate", unit="events", enabled=out != "-") as update:
        summary = simulate(settings, out, format, update)
    if json_output:
        emit_json(summary.to_dict())
    elif out != "-":
        print_simulation(summary)


def _config(path: Path | None, **values: object) -> SimulationConfig:
    data: dict[str, object] = {}
    if path is not None:
        loaded = yaml.safe_load(path.read_text())
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of simulation settings")
        data.update(loaded)
    start = values.pop("start")
    if start is not None:
        data["start"] = datetime.strptime(str(start), "%Y-%m-%d").replace(tzinfo=UTC)
    data.update({key: value for key, value in values.items() if value is not None})
    try:
        return SimulationConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"simulation settings: {exc}") from None


def print_simulation(summary: SimulationSummary) -> None:
    data = summary.to_dict()
    console.print(
        f"simulated {data['transactions']:,} transactions, {data['logins']:,} logins and "
        f"{data['labels']:,} labels in {data['elapsed_seconds']:.1f} s "
        f"({data['events_per_second']:,.0f} events/s); fraud rate {data['fraud_rate']:.3%}"
    )
    by_source = data["transactions_by_source"]
    fraud_source = data["fraud_by_source"]
    assert isinstance(by_source, dict) and isinstance(fraud_source, dict)
    table(
        "per source",
        ["source", "transactions", "fraud"],
        [[name, count, fraud_source.get(name, 0)] for name, count in sorted(by_source.items())],
    )
    scenarios = data["fraud_by_scenario"]
    assert isinstance(scenarios, dict)
    table(
        "fraud per scenario",
        ["scenario", "transactions"],
        [[k, v] for k, v in sorted(scenarios.items())],
    )
    outputs = data["outputs"]
    assert isinstance(outputs, list)
    table(
        "files",
        ["path", "format", "source", "kind", "events"],
        [[o["path"], o["format"], o["source"], o["kind"], o["events"]] for o in outputs],
    )
