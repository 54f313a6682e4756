"""`fraudwatch demo`: simulate several banks, ingest their native files, show what happened.

Needs no server: everything goes to the embedded store under `FRAUDWATCH_HOME`. A small feed of
deliberately broken records shows the dead-letter store, and a replay shows idempotency.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import typer

from fraudwatch.bootstrap import Container
from fraudwatch.cli.common import JsonOption, container
from fraudwatch.cli.data import print_summary
from fraudwatch.cli.ingest import run_ingest
from fraudwatch.cli.output import console, emit_json, progress_bar, table
from fraudwatch.control.repository import Role
from fraudwatch.events.ingest import IngestReport
from fraudwatch.simulate import OutputFile, SimulationConfig, simulate

if TYPE_CHECKING:
    from fraudwatch.cli.demo_live import DemoUser

_KIND_ORDER = {"transactions": 0, "events": 0, "logins": 1, "labels": 2}


def demo_command(
    transactions: Annotated[
        int, typer.Option(min=1_000, help="Transactions to simulate.")
    ] = 300_000,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
    live: Annotated[
        bool, typer.Option(help="Train, serve the API and stream a live day at it.")
    ] = True,
    serve: Annotated[
        bool, typer.Option(help="Keep the API running at the end, until Ctrl-C.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port of the demo API.")] = 8000,
    json_output: JsonOption = False,
) -> None:
    """Simulate a multi-bank history and ingest every bank's native file; then train a model on
    it, start the scoring API, stream the next day at it and print what happened — fraud
    caught and missed, latency, cases, alerts; the API keeps serving until Ctrl-C."""
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
        live_result = (
            _live(app, folder, transactions, seed, port, serve and not json_output, say)
            if live
            else None
        )
    result = {
        "simulation": simulation.to_dict(),
        "ingested": [report.as_dict() for report in reports],
        "replay": replay.as_dict(),
        "store": summary,
        "database": database,
        "live": live_result,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if json_output:
        emit_json(result)
        return
    _print(result, reports, replay)


def _live(
    app: Container,
    folder: Path,
    transactions: int,
    seed: int,
    port: int,
    keep_serving: bool,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Steps 5-8: train, serve, stream the next day, report (and keep serving)."""
    from fraudwatch.cases.service import CaseService
    from fraudwatch.cli import demo_live

    say("[bold]5. training[/bold] a model on the stored history (LightGBM + Isolation Forest)")
    model = demo_live.train_champion(app)
    say(f"   model version {model['version']} is champion: test ROC AUC {model['roc_auc']:.3f}")
    receiver = demo_live.Receiver()
    alerts_url = receiver.start()
    config = SimulationConfig(transactions=transactions, seed=seed)
    live_start = config.start + timedelta(days=config.days)
    count = max(500, transactions // config.days)
    path = demo_live.live_day(folder, seed, config.customer_count(), live_start, count)
    live_txs, fraud = demo_live.read_live(path)
    reported = demo_live.report_stolen(app, live_txs, fraud)
    say(f"   an analyst blocks a card its holder reported stolen (…{reported}): the starter "
        "rule `blocked_card` will block it")  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    users = demo_live.create_demo_users(app) if keep_serving else []
    if keep_serving:
        demo_live.publish_starter_rules(app)  # the dashboard's rule editor starts from them
    say(f"[bold]6. serving[/bold] the scoring API on {url} (OpenAPI: {url}/docs)")
    with demo_live.serve(app, port, alerts_url) as key:
        say(f"[bold]7. streaming[/bold] the next day: {len(live_txs):,} transactions, "
            f"{demo_live.CLIENTS} concurrent clients")  # fmt: skip
        report = demo_live.stream(url, key, live_txs, fraud)
        report["stored"] = demo_live.wait_stored(app, [tx["transaction_id"] for tx in live_txs])
        # the day's chargebacks and analysts' findings: the dashboard tells caught from missed
        labels = demo_live.read_live_labels(path)
        report["labels_reported"] = demo_live.report_labels(url, key, labels)
        time.sleep(2)  # the dispatcher's next round
        report["cases"] = CaseService(app.store.engine).counts()
        report["alerts_delivered"] = len(receiver.alerts)
        report["audit_intact"] = app.control.verify_audit().ok
        report["model"] = model
        report["api"] = url
        say(_live_summary(report))
        if keep_serving:
            _, admin = app.control.create_api_key(role=Role.ADMIN, name="demo admin", by="demo")
            say(_dashboard_logins(url, users, app.settings.dashboard_dir))
            say(f"\nThe API keeps serving on {url} (OpenAPI {url}/docs). Admin key:\n  {admin}\n"
                "Try: curl -H \"Authorization: Bearer $KEY\" " + url + "/v1/cases   "
                "— Ctrl-C to stop.")  # fmt: skip
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                say("stopped")
    return report


def _dashboard_logins(url: str, users: list[DemoUser], directory: Path | None = None) -> str:
    """How a person logs in to the dashboard: the URL, each user's password and TOTP secret
    (add the otpauth:// URI or the base32 secret to an authenticator app)."""
    from fraudwatch.api.dashboard import default_dashboard_dir

    built = ((directory or default_dashboard_dir()) / "index.html").is_file()
    lines = [f"\n[bold]The dashboard[/bold]: open {url}/"]
    if not built:
        lines.append("   (not built: run `make dashboard` or `npm --prefix dashboard ci && "
                     "npm --prefix dashboard run build`, then reload)")  # fmt: skip
    for user in users:
        lines.append(f"   {user.role:8} [bold]{user.username}[/bold]  password {user.password}")
        if user.totp_secret:
            lines.append(f"            TOTP secret {user.totp_secret}")
            lines.append(f"            {user.otpauth_uri}")
        else:
            lines.append("            no second factor (read-only)")
    return "\n".join(lines)


def _live_summary(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    return (
        f"[bold]8. live day[/bold]: {r['transactions']:,} transactions in {r['seconds']} s "
        f"({r['per_second']:,}/s from {16} clients), latency p50 {lat['p50']} ms, "
        f"p95 {lat['p95']} ms, p99 {lat['p99']} ms\n"
        f"   outcomes: {r['outcomes']}\n"
        f"   fraud: {r['fraud']} — caught {r['fraud_caught']} (blocked {r['fraud_blocked']}), "
        f"missed {r['fraud_missed']}; genuine flagged {r['genuine_flagged']} "
        f"({r['false_positive_rate']:.2%})\n"
        f"   cases: {r['cases']}; alerts delivered to the local webhook: {r['alerts_delivered']}; "
        f"audit chain intact: {r['audit_intact']}"
    )


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
