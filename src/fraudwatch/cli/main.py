"""`fraudwatch`: the command-line entry point. Each sub-command lives in its own module."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fraudwatch import __version__
from fraudwatch.cli import (
    audit,
    data,
    demo,
    features,
    ingest,
    models,
    openapi,
    projector,
    rules,
    serve,
    simulate,
    stream,
    users,
)
from fraudwatch.cli.output import err_console
from fraudwatch.errors import FraudwatchError

app = typer.Typer(
    name="fraudwatch",
    help="Real-time fraud detection and prevention for payment transactions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("simulate")(simulate.simulate_command)
app.command("ingest")(ingest.ingest_command)
app.command("formats")(ingest.formats_command)
app.command("demo")(demo.demo_command)
app.command("summary")(data.summary_command)
app.add_typer(data.deadletters_app, name="deadletters")
app.add_typer(data.transactions_app, name="transactions")
app.add_typer(data.db_app, name="db")
app.add_typer(features.features_app, name="features")
app.add_typer(rules.rules_app, name="rules")
app.command("serve")(serve.serve_command)
app.add_typer(serve.apikey_app, name="apikey")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(users.users_app, name="users")
app.command("worker")(stream.worker_command)
app.command("produce")(stream.produce_command)
app.command("train")(models.train_command)
app.command("evaluate")(models.evaluate_command)
app.command("backtest")(models.backtest_command)
app.add_typer(models.models_app, name="models")
app.command("openapi")(openapi.openapi_command)
app.command("projector")(projector.projector_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Real-time fraud detection and prevention for payment transactions."""


def main() -> None:
    try:
        app()
    except FraudwatchError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        sys.exit(2)


if __name__ == "__main__":
    main()
