"""`fraudwatch audit`: read the audit log and verify its hash chain."""

from __future__ import annotations

from typing import Annotated

import typer

from fraudwatch.cli.common import JsonOption, container
from fraudwatch.cli.output import console, emit_json, err_console, table

audit_app = typer.Typer(
    help="The audit log: list entries, verify the hash chain.", no_args_is_help=True
)


@audit_app.command("verify")
def verify_command(json_output: JsonOption = False) -> None:
    """Walk the hash chain; exit 1 naming the first entry that was edited, inserted or deleted."""
    with container() as app:
        result = app.control.verify_audit()
    if json_output:
        emit_json(result.as_dict())
    elif result.ok:
        console.print(f"audit log intact: {result.entries:,} entries, hash chain verified")
    else:
        err_console.print(
            f"[red]audit log tampered[/red]: {result.problem} (entry {result.bad_seq})"
        )
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("list")
def list_command(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Entries to show.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """The newest entries first."""
    with container() as app:
        entries = app.control.audit(limit=limit)
    if json_output:
        emit_json(
            {
                "entries": [
                    {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
                     "target": e.target, "details": e.details}
                    for e in entries
                ]
            }
        )  # fmt: skip
        return
    rows: list[list[object]] = [
        [e.seq, e.at, e.actor, e.action, e.target, e.details or ""] for e in entries
    ]
    table("audit log", ["#", "at", "actor", "action", "target", "details"], rows)
