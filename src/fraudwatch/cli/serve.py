"""`fraudwatch serve` (the scoring API) and `fraudwatch apikey` (keys for it)."""

from __future__ import annotations

from typing import Annotated

import typer

from fraudwatch.cli.common import JsonOption, container
from fraudwatch.cli.output import console, emit_json, err_console, table
from fraudwatch.control.repository import Role
from fraudwatch.runtime import quiet_garbage_collector

apikey_app = typer.Typer(help="API keys of the scoring API.", no_args_is_help=True)


@apikey_app.command("create")
def create_command(
    role: Annotated[Role, typer.Option(help="What the key may do.")] = Role.SERVICE,
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "cli",
    json_output: JsonOption = False,
) -> None:
    """Create a key; its secret is printed once (send it as `Authorization: Bearer KEY`)."""
    with container() as app:
        key, token = app.control.create_api_key(role=role, name=name, by="command line")
    if json_output:
        emit_json({"key": token, "key_id": key.key_id, "role": key.role.value, "name": name})
    else:
        console.print(f"API key {key.key_id} ({key.role.value}): {token}")
        err_console.print("store it now: the secret is not shown again")


@apikey_app.command("list")
def list_command(json_output: JsonOption = False) -> None:
    """Keys (never their secrets)."""
    with container() as app:
        keys = app.control.api_keys()
    rows: list[list[object]] = [
        [k.key_id, k.name, k.role.value, k.created_at, k.revoked_at] for k in keys
    ]
    if json_output:
        names = ["key_id", "name", "role", "created_at", "revoked_at"]
        emit_json({"keys": [dict(zip(names, row, strict=True)) for row in rows]})
    else:
        table("API keys", ["id", "name", "role", "created", "revoked"], rows)


@apikey_app.command("revoke")
def revoke_command(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key: running servers refuse it within seconds."""
    with container() as app:
        app.control.revoke_api_key(key_id, by="command line")
    console.print(f"revoked {key_id}")


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    warmup_days: Annotated[
        int | None, typer.Option(help="Days of stored history replayed into the features.")
    ] = None,
) -> None:
    """Start the scoring API (OpenAPI at /docs). Without a trained model it serves rules-only
    decisions and says so."""
    import uvicorn

    from fraudwatch.api.app import create_server
    from fraudwatch.api.protocol import scoring_protocol
    from fraudwatch.scoring.service import ScoringService

    with container() as app:
        service = ScoringService.with_champion(
            app, writer=app.settings.store_writer, writer_nice=app.settings.store_writer_nice
        )
        days = app.settings.warmup_days if warmup_days is None else warmup_days
        replayed = service.warm_up(days)
        err_console.print(f"features warmed up with {replayed:,} stored transactions ({days} days)")
        if service.model is None:
            err_console.print(
                "[yellow]no champion model: serving rules-only decisions[/yellow] "
                "(train one with `fraudwatch train` and promote it to champion)"
            )
        else:
            err_console.print(f"model: {service.model.version}")
        rules = service.rulebook.version or "none"
        err_console.print(f"rules: version {rules}; thresholds {service.thresholds}")
        err_console.print(f"listening on http://{host}:{port} (OpenAPI: http://{host}:{port}/docs)")
        quiet_garbage_collector()
        server = create_server(service)
        uvicorn.run(
            server,
            host=host,
            port=port,
            http=scoring_protocol(server),
            log_level="warning",
            access_log=False,
        )
