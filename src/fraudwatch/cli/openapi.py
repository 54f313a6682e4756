"""`fraudwatch openapi`: the API's OpenAPI document, from which the dashboard's typed client is
generated."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from fraudwatch.cli.output import err_console


def openapi_command(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the document here instead of stdout.")
    ] = None,
) -> None:
    """Print the OpenAPI JSON of `fraudwatch serve` (built in a throwaway embedded home, so it
    needs no database, key or model)."""
    from fraudwatch.api.app import create_app
    from fraudwatch.bootstrap import bootstrap
    from fraudwatch.scoring.service import ScoringService
    from fraudwatch.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="fraudwatch-openapi-") as home:
        settings = load_settings(
            home=Path(home), deployment="embedded", database_url=None, warmup_days=0
        )
        container = bootstrap(settings)
        try:
            document = create_app(ScoringService(container)).openapi()
        finally:
            container.close()
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    err_console.print(f"OpenAPI document written to {out}")
