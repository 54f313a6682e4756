"""Looking at what is stored: `summary`, `deadletters`, `transactions`, `db`."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from fraudwatch.cli.common import JsonOption, as_utc, container
from fraudwatch.cli.output import console, emit_json, table
from fraudwatch.errors import NotFoundError
from fraudwatch.events.deadletter import DeadLetter
from fraudwatch.events.model import to_builtins
from fraudwatch.security.masking import mask_pans

deadletters_app = typer.Typer(help="List and export dead-lettered records.", no_args_is_help=True)
transactions_app = typer.Typer(help="Look up stored transactions.", no_args_is_help=True)
db_app = typer.Typer(help="The system of record: migrations and partitions.", no_args_is_help=True)


def summary_command(json_output: JsonOption = False) -> None:
    """Totals of the store: transactions per source, labels per fraud type, dead letters."""
    with container() as app:
        summary = msgspec.to_builtins(app.store.summary())
    if json_output:
        emit_json(summary)
        return
    print_summary(summary)


def print_summary(summary: dict[str, Any]) -> None:
    scalars = [
        [key.replace("_", " "), value]
        for key, value in summary.items()
        if not isinstance(value, dict)
    ]
    table("store", ["", "value"], scalars)
    sources = summary.get("sources") or {}
    table(
        "transactions per source",
        ["source", "transactions", "largest amount sums by currency"],
        [
            [name, item["transactions"], _amounts(item["amounts"])]
            for name, item in sorted(sources.items())
        ],
    )
    for key in ("fraud_by_type", "dead_letters_by_reason"):
        counts = summary.get(key) or {}
        if counts:
            table(key.replace("_", " "), ["", "count"], [[k, v] for k, v in sorted(counts.items())])


def _amounts(amounts: dict[str, str]) -> str:
    ordered = sorted(amounts.items(), key=lambda item: -float(item[1]))
    shown = ", ".join(f"{code} {float(value):,.2f}" for code, value in ordered[:3])
    return shown + (f" (+{len(ordered) - 3} more)" if len(ordered) > 3 else "")


@deadletters_app.command("list")
def deadletters_list(
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: JsonOption = False,
) -> None:
    """Show dead letters, newest first, with their reason and where they came from."""
    with container() as app:
        letters = app.store.dead_letters(reason=reason, source=source, limit=limit, offset=offset)
    rows = [_shown(letter, unmask=False) for letter in letters]
    if json_output:
        emit_json({"dead_letters": rows, "count": len(rows), "offset": offset})
        return
    table(
        "dead letters",
        ["source", "format", "position", "reason", "field", "message", "raw"],
        [
            [
                r["source"],
                r["format"],
                r["position"],
                r["reason"],
                r.get("field"),
                r["message"],
                r["raw"][:60],
            ]
            for r in rows
        ],
    )


@deadletters_app.command("export")
def deadletters_export(
    out: Annotated[
        Path, typer.Option(help="Output file: .jsonl or .csv; - for stdout (JSON Lines).")
    ],
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    unmask: Annotated[
        bool, typer.Option(help="Keep card numbers in the raw records (needed to re-ingest them).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Export dead letters (streamed, any number) for repair and re-ingestion; card numbers in
    the raw records are masked unless --unmask."""
    count = 0
    with container() as app:
        letters = app.store.iter_dead_letters(reason=reason, source=source)
        if str(out) == "-":
            for letter in letters:
                sys.stdout.write(json.dumps(_shown(letter, unmask=unmask), default=str) + "\n")
                count += 1
            return
        with out.open("w", newline="", encoding="utf-8") as handle:
            if out.suffix == ".csv":
                fields = [
                    "id",
                    "source",
                    "format",
                    "position",
                    "reason",
                    "field",
                    "message",
                    "raw",
                    "created_at",
                ]
                writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
                for letter in letters:
                    writer.writerow(_shown(letter, unmask=unmask))
                    count += 1
            else:
                for letter in letters:
                    handle.write(json.dumps(_shown(letter, unmask=unmask), default=str) + "\n")
                    count += 1
    if json_output:
        emit_json({"exported": count, "out": str(out)})
    else:
        console.print(f"exported {count:,} dead letters to {out}")


def _shown(letter: DeadLetter, *, unmask: bool) -> dict[str, Any]:
    row: dict[str, Any] = msgspec.to_builtins(letter)
    if not unmask:
        row["raw"] = mask_pans(letter.raw)
    return row


@transactions_app.command("show")
def transactions_show(
    transaction_id: Annotated[str, typer.Argument(help="The transaction id.")],
    json_output: JsonOption = False,
) -> None:
    """One stored transaction (personal fields decrypted) and its labels."""
    with container() as app:
        tx = app.store.get_transaction(transaction_id)
        if tx is None:
            raise NotFoundError(f"no transaction {transaction_id!r}")
        labels = app.store.labels_for([transaction_id])
    payload = {"transaction": to_builtins(tx), "labels": [to_builtins(label) for label in labels]}
    if json_output:
        emit_json(payload)
    else:
        console.print_json(json.dumps(payload))


@transactions_app.command("find")
def transactions_find(
    card_token: Annotated[str | None, typer.Option(help="Card token (tok_...).")] = None,
    customer: Annotated[str | None, typer.Option(help="Customer id.")] = None,
    merchant: Annotated[str | None, typer.Option(help="Merchant id.")] = None,
    start: Annotated[datetime | None, typer.Option(help="From this time (UTC).")] = None,
    end: Annotated[datetime | None, typer.Option(help="Before this time (UTC).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    json_output: JsonOption = False,
) -> None:
    """Transactions of a card, customer or merchant, newest first."""
    with container() as app:
        found = app.store.find_transactions(
            card_token=card_token,
            customer_id=customer,
            merchant_id=merchant,
            start=as_utc(start) if start else None,
            end=as_utc(end) if end else None,
            limit=limit,
        )
    if json_output:
        emit_json({"transactions": [to_builtins(tx) for tx in found], "count": len(found)})
        return
    table(
        "transactions",
        ["id", "time", "amount", "currency", "card", "customer", "merchant", "channel"],
        [
            [
                tx.transaction_id,
                tx.event_time.isoformat(),
                str(tx.amount),
                tx.currency,
                tx.card.token if tx.card else None,
                tx.customer_id,
                tx.merchant.id if tx.merchant else None,
                tx.channel.value if tx.channel else None,
            ]
            for tx in found
        ],
    )


@db_app.command("upgrade")
def db_upgrade(json_output: JsonOption = False) -> None:
    """Apply migrations (and, on PostgreSQL, create the partitions ahead)."""
    with container() as app:
        app.store.migrate()
        url = app.settings.resolved_database_url
    safe = url.split("@")[-1] if "@" in url else url
    if json_output:
        emit_json({"migrated": True, "database": safe})
    else:
        console.print(f"database at {safe} is up to date")
