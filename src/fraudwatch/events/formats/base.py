"""The source-format interface and its registry.

A format turns one kind of input (a gateway's JSON, a bank's CSV export, a public dataset, a SQL
table, a log file) into canonical events. It yields one `Parsed` per input record, holding either
the events that record became (a dataset row can become a `Transaction` and a `Label`) or the
`RecordError` that explains why it could not. It never raises for a bad record, and never skips
one: the ingestion pipeline counts `read = accepted + duplicates + dead_lettered` on what it yields.

To add a format: subclass nothing, write a class with `name`, `summary` and `read`, and decorate it
with `@register_format`; or, from another package, expose it under the entry-point group
`fraudwatch.formats` (see docs/formats.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import ClassVar, Protocol, TypeVar

from fraudwatch.errors import RecordError, UnknownFormatError
from fraudwatch.events.model import Event, Transaction
from fraudwatch.security.tokens import CardTokenizer


def _no_progress(done: int, total: int | None) -> None:
    return None


@dataclass(slots=True)
class IngestContext:
    """What a format may use while reading: the card tokenizer, its options, a progress hook.

    `checkpoints` holds the values an incremental format (a SQL table read by watermark) saved
    through `Parsed.checkpoint` on earlier runs, so it resumes where the stored data ends.
    """

    tokenizer: CardTokenizer
    source: str = "unknown"
    options: Mapping[str, str] = field(default_factory=dict)
    progress: Callable[[int, int | None], None] = _no_progress
    checkpoints: Mapping[str, str] = field(default_factory=dict)

    def option(self, name: str, default: str) -> str:
        return self.options.get(name, default)


@dataclass(slots=True)
class Parsed:
    """One input record: its 1-based position, its raw text, and the events or the error.

    `checkpoint` is an optional `(key, value)` the pipeline saves once this record's batch is
    durably written (accepted or dead-lettered); the next run finds it in
    `IngestContext.checkpoints`. Saving only after the write makes incremental reading
    at-least-once, never lossy.
    """

    position: int
    raw: str
    events: tuple[Event, ...] = ()
    error: RecordError | None = None
    checkpoint: tuple[str, str] | None = None


class SourceFormat(Protocol):
    name: ClassVar[str]
    summary: ClassVar[str]

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        """Yield every record of `location` (a path, URL or `-` for stdin), in order."""
        ...


class GatewayWriter(Protocol):
    """The encoding side of a gateway format, used by the simulator to write that bank's files."""

    name: ClassVar[str]

    def header(self) -> str | None: ...

    def encode(self, tx: Transaction) -> str:
        """One line for `tx`; `tx.card.number` holds the PAN the bank would send."""
        ...


F = TypeVar("F", bound=type[SourceFormat])
W = TypeVar("W", bound=type[GatewayWriter])

_FORMATS: dict[str, type[SourceFormat]] = {}
_WRITERS: dict[str, type[GatewayWriter]] = {}


def register_format(cls: F) -> F:
    _FORMATS[cls.name] = cls
    return cls


def register_writer(cls: W) -> W:
    _WRITERS[cls.name] = cls
    return cls


def _load_plugins() -> None:
    for entry in entry_points(group="fraudwatch.formats"):
        entry.load()


def _load_builtin() -> None:
    import fraudwatch.events.formats  # noqa: F401  (registers the built-in formats)


def format_names() -> list[str]:
    _load_builtin()
    _load_plugins()
    return sorted(_FORMATS)


def get_format(name: str) -> SourceFormat:
    names = format_names()
    if name not in _FORMATS:
        raise UnknownFormatError(f"unknown format {name!r}; known formats: {', '.join(names)}")
    return _FORMATS[name]()


def writer_names() -> list[str]:
    _load_builtin()
    return sorted(_WRITERS)


def get_writer(name: str) -> GatewayWriter:
    names = writer_names()
    if name not in _WRITERS:
        raise UnknownFormatError(f"no writer for format {name!r}; writers: {', '.join(names)}")
    return _WRITERS[name]()
