"""`fraudwatch demo`: simulate several banks, ingest their native files, show what happened.

Needs no server: everything goes to the embedded store under `FRAUDWATCH_HOME`. A small feed of
deliberately broken records shows the dead-letter store, and a replay shows idempotency.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from fraudwatch.bootstrap import Container
from fraudwatch.cli.common import JsonOption, container
from fraudwatch.cli.data import print_summary
from fraudwatch.cli.ingest import run_ingest
from fraudwatch.cli.output import console, emit_json, progress_bar, table
from fraudwatch.events.ingest import IngestReport
from fraudwatch.simulate import OutputFile, SimulationConfig, simulate

_KIND_ORDER = {"transactions": 0, "events": 0, "logins": 1, "labels": 2}


def demo_command(
    transactions: Annotated[
        int, typer.Option(min=1_000, help="Transactions to simulate.")
    ] = 300_000,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
    json_output: JsonOption = False,
) -> None:
    """Simulate a multi-bank stream, ingest every bank's native file, print a summary."""
    started = time.perf_counter()
    with container() as app:
        folder = app.settings.home / "demo" / f"seed{seed}-n{transactions}"
        say = _quiet if json_output else _say
        say(
            f"[bold]1. simulating[/bold] {transactions:,} transactions from four banks "
            f"into {folder}"
        )
        with progress_bar("simulate", unit="events", enabled=not json_output) as update:
            simulation = simulate(
                SimulationConfig(transactions=transactions, seed=seed),
                str(folder),
                "multi-bank",
                update,
            )
        say("[bold]2. ingesting[/bold] each bank's file in its own format")
        reports = [_ingest(app, output, not json_output) for output in _ordered(simulation.outputs)]
        say("[bold]3. ingesting[/bold] a feed of deliberately broken records")
        broken = _write_broken_feed(folder, simulation.outputs)
        reports.append(
            run_ingest(app, str(broken), "json", {"source": "demo-faults"}, None, progress=False)
        )
        replay_file = min(
            (o for o in simulation.outputs if o.kind == "transactions"), key=lambda o: o.events
        )
        say(
            f"[bold]4. replaying[/bold] {Path(replay_file.path).name}: "
            "every record must come back as a duplicate"
        )
        replay = _ingest(app, replay_file, not json_output)
        summary = msgspec.to_builtins(app.store.summary())
        database = app.settings.resolved_database_url
    result = {
        "simulation": simulation.to_dict(),
        "ingested": [report.as_dict() for report in reports],
        "replay": replay.as_dict(),
        "store": summary,
        "database": database,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if json_output:
        emit_json(result)
        return
    _print(result, reports, replay)


def _say(text: str) -> None:
    console.print(text)


def _quiet(text: str) -> None:
    return None


def _ordered(outputs: Sequence[OutputFile]) -> list[OutputFile]:
    return sorted(outputs, key=lambda o: _KIND_ORDER.get(o.kind, 3))


def _ingest(app: Container, output: OutputFile, progress: bool) -> IngestReport:
    options = {"source": output.source} if output.source else {}
    return run_ingest(app, output.path, output.format, options, None, progress=progress)


def _write_broken_feed(folder: Path, outputs: Sequence[OutputFile]) -> Path:
    """Realistic faults, one per line; the last reuses a real id with a different amount."""
    canonical = next(o for o in outputs if o.format == "json" and o.kind == "transactions")
    with Path(canonical.path).open(encoding="utf-8") as handle:
        real = json.loads(handle.readline())
    conflicting = dict(real, amount=str(float(real["amount"]) + 1))
    base = '"event_time":"2026-01-06T10:00:00Z","currency":"EUR"'
    lines = [
        '{"transaction_id":"bad-1",' + base + "}",
        '{"transaction_id":"bad-2",' + base + ',"amount":"12,50 EUR"}',
        '{"transaction_id":"bad-3","event_time":"2026-01-06T10:00:00Z","amount":"5","currency":"EURO"}',
        '{"transaction_id":"bad-4","event_time":"06/01/2026 10:00","amount":"5","currency":"EUR"}',
        '{"transaction_id":"bad-5",' + base + ',"amount":"5","card":{"number":"4111111111111112"}}',
        '{"transaction_id":"bad-6",'
        + base
        + ',"amount":"5","merchant":{"id":"m","country":"Germany"}}',
        '{"transaction_id":"bad-7","amount":"5",',
        json.dumps(conflicting),
    ]
    path = folder / "broken-feed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _print(result: dict[str, Any], reports: list[IngestReport], replay: IngestReport) -> None:
    table(
        "ingestion per file",
        ["source", "format", "read", "accepted", "duplicates", "dead-lettered", "records/s"],
        [
            [r.source, r.format, r.read, r.accepted, r.duplicates, r.dead_lettered, _rate(r)]
            for r in [*reports, replay]
        ],
    )
    print_summary(result["store"])
    console.print(
        f"[bold green]done[/bold green] in {result['seconds']} s. Store: {result['database']}\n"
        "Next: `fraudwatch summary`, `fraudwatch deadletters list`, "
        "`fraudwatch transactions find --customer ...`"
    )


def _rate(report: IngestReport) -> str:
    return f"{report.read / report.seconds:,.0f}" if report.seconds else ""
