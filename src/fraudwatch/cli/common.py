"""Options shared by several commands, and the container they open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import ValidationError

from fraudwatch.bootstrap import Container, bootstrap
from fraudwatch.errors import ConfigError
from fraudwatch.settings import load_settings

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")
]


@contextmanager
def container() -> Iterator[Container]:
    try:
        settings = load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(f"{where}: {first['msg']}") from None
    app = bootstrap(settings)
    try:
        yield app
    finally:
        app.close()


def as_utc(value: datetime) -> datetime:
    """A command-line time: naive means UTC, an explicit offset is converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """`--option key=value` pairs of a format."""
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--option")
        options[key.strip()] = value
    return options
