"""Streaming a dataset file as a header plus rows of text cells, and the loop every dataset shares.

Public fraud datasets ship as CSV (often gzipped by whoever mirrors them) and, for some
re-exports, Parquet. Both are read here in constant memory into one shape: the column names, then
one `list[str]` per data row (Parquet values become the text a CSV export holds), so a dataset
module maps rows of text and never cares where they came from.

`read_rows` is the source-format contract in one place: exactly one `Parsed` per data row, in
order, numbered from 1, never an exception for a bad row. Blank lines are not data rows: they are
passed over without taking a number, so a trailing empty line does not become a dead letter.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fraudwatch.errors import FraudwatchError, RecordError
from fraudwatch.events.formats.base import IngestContext, Parsed
from fraudwatch.events.formats.textio import (
    Progress,
    encoding_error,
    open_text,
    printable,
    undecodable,
)
from fraudwatch.events.model import Event

MapRow = Callable[[int, list[str]], tuple[Event, ...]]

PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_PICKLE_SUFFIXES = frozenset({".pkl", ".pickle"})
_BATCH_ROWS = 8192


class Table:
    """A dataset file opened for reading: its column names and an iterator over its rows."""

    def __init__(
        self,
        location: str,
        columns: Sequence[str],
        rows: Iterator[list[str]],
        *,
        encoding: str = "utf-8",
    ) -> None:
        self.location = location
        self.encoding = encoding
        self.columns = [name.strip() for name in columns]
        self.rows = rows
        self._positions: dict[str, int] = {}
        for index, name in enumerate(self.columns):
            self._positions.setdefault(name, index)

    def find(self, name: str) -> int | None:
        """Index of column `name`, or None when the file does not have it."""
        return self._positions.get(name)

    def require(self, dataset: str, *names: str) -> list[int]:
        """Indexes of `names`; a whole-file error naming every missing column otherwise."""
        missing = [name for name in names if name not in self._positions]
        if missing:
            shown = ", ".join(self.columns[:12]) + (", ..." if len(self.columns) > 12 else "")
            raise FraudwatchError(
                f"{self.location}: not a {dataset} file, the header lacks the column(s) "
                f"{', '.join(missing)} (it has: {shown})",
                code="bad_layout",
            )
        return [self._positions[name] for name in names]


@contextmanager
def open_table(location: str, ctx: IngestContext, *, parquet: bool = False) -> Iterator[Table]:
    """Open a CSV (`.csv`, `.csv.gz`, `-` for stdin) or, when allowed, Parquet (file or folder).

    Option `encoding` (default UTF-8, a byte-order mark is skipped) applies to CSV.
    """
    path = Path(location)
    if location != "-" and (path.suffix in _PICKLE_SUFFIXES or _holds_only_pickles(path)):
        raise FraudwatchError(
            f"{location}: pickle files are not read, unpickling untrusted data runs arbitrary "
            "code; convert them to Parquet first (see docs/formats-datasets.md)",
            code="bad_layout",
        )
    if parquet and location != "-" and (path.is_dir() or path.suffix in PARQUET_SUFFIXES):
        yield _parquet_table(location, ctx.progress)
        return
    encoding = ctx.option("encoding", "utf-8")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    with open_text(location, ctx.progress, encoding=encoding, errors="surrogateescape") as text:
        reader = csv.reader(text)
        try:
            header = next((row for row in reader if row), None)
        except (EOFError, OSError, zlib.error) as exc:
            raise FraudwatchError(f"{location}: the compressed data is corrupt: {exc}") from exc
        if header is None:
            raise FraudwatchError(
                f"{location}: the file is empty, no header row", code="bad_layout"
            )
        yield Table(location, header, reader, encoding=encoding.removesuffix("-sig"))


def _holds_only_pickles(path: Path) -> bool:
    if not path.is_dir():
        return False
    suffixes = {child.suffix for child in path.iterdir()}
    return not suffixes & PARQUET_SUFFIXES and bool(suffixes & _PICKLE_SUFFIXES)


def _parquet_table(location: str, progress: Progress) -> Table:
    import pyarrow.parquet as pq

    path = Path(location)
    if path.is_dir():
        paths = sorted(child for child in path.iterdir() if child.suffix in PARQUET_SUFFIXES)
        if not paths:
            raise FraudwatchError(
                f"{location}: no .parquet files in this folder", code="bad_layout"
            )
    elif path.is_file():
        paths = [path]
    else:
        raise FraudwatchError(f"cannot open {location}: no such file")
    try:
        files = [pq.ParquetFile(file) for file in paths]
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise FraudwatchError(f"{location}: not a readable Parquet file: {exc}") from exc
    columns: list[str] = list(files[0].schema_arrow.names)
    for file, parquet in zip(paths, files, strict=True):
        if list(parquet.schema_arrow.names) != columns:
            raise FraudwatchError(
                f"{file}: its columns differ from those of {paths[0].name}", code="bad_layout"
            )
    total_bytes = sum(file.stat().st_size for file in paths)
    return Table(location, columns, _parquet_rows(files, total_bytes, progress))


def _parquet_rows(
    files: Sequence[Any], total_bytes: int, progress: Progress
) -> Iterator[list[str]]:
    """Rows in file order, batch by batch; progress is the share of rows read times the bytes."""
    total_rows = sum(parquet.metadata.num_rows for parquet in files) or 1
    done = 0
    for parquet in files:
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
            columns = [_column_text(column) for column in batch.columns]
            for row in zip(*columns, strict=True):
                yield list(row)
            done += batch.num_rows
            progress(total_bytes * done // total_rows, total_bytes)


def _column_text(column: Any) -> list[str]:
    """A column's values as the text a CSV export holds: `""` for null, ISO text for times.

    Arrow formats numbers in C++ with the shortest text that reads back the same value, so a
    float32 amount is `57.16`, not `57.15999984741211`; timestamps go through Python for the
    `2018-04-01 00:00:31` form.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    if pat.is_timestamp(column.type):
        micro = column.cast(pa.timestamp("us", tz=column.type.tz), safe=False)
        return ["" if value is None else str(value) for value in micro.to_pylist()]
    try:
        text = column.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return ["" if value is None else str(value) for value in column.to_pylist()]
    texts: list[str] = pc.fill_null(text, "").to_pylist()
    return texts


_quoting_buffer = io.StringIO()
_quoting_writer = csv.writer(_quoting_buffer, lineterminator="")


def raw_line(cells: list[str]) -> str:
    """The row as one CSV line; cells holding commas, quotes or newlines are quoted again."""
    line = ",".join(cells)
    if '"' in line or "\n" in line or "\r" in line or line.count(",") != len(cells) - 1:
        _quoting_buffer.seek(0)
        _quoting_buffer.truncate()
        _quoting_writer.writerow(cells)
        return _quoting_buffer.getvalue()
    return line


def read_rows(table: Table, map_row: MapRow) -> Iterator[Parsed]:
    """One `Parsed` per data row of `table`: its events from `map_row`, or why it has none.

    A row whose cell count differs from the header's, or that is not valid CSV or not valid in
    the file's encoding, is `unparseable`; `map_row` raises `RecordError` for a bad value, and a
    `ValueError` from a canonical event's own checks becomes a `bad_value` dead letter.
    """
    width = len(table.columns)
    position = 0
    rows = table.rows
    while True:
        try:
            for cells in rows:
                if not cells:
                    continue
                position += 1
                raw = raw_line(cells)
                if len(cells) != width:
                    message = f"has {len(cells)} cells where the header has {width}"
                    error = RecordError("unparseable", message)
                    yield Parsed(position, printable(raw), error=error)
                elif undecodable(raw):
                    yield Parsed(position, printable(raw), error=encoding_error(table.encoding))
                else:
                    try:
                        events = map_row(position, cells)
                    except RecordError as exc:
                        yield Parsed(position, raw, error=exc)
                    except (ValueError, TypeError, OverflowError) as exc:
                        yield Parsed(position, raw, error=RecordError("bad_value", str(exc)))
                    else:
                        yield Parsed(position, raw, events=events)
            return
        except csv.Error as exc:  # the csv reader resumes at the next line
            position += 1
            yield Parsed(position, "", error=RecordError("unparseable", f"not valid CSV: {exc}"))
        except (EOFError, OSError, zlib.error) as exc:
            raise FraudwatchError(
                f"{table.location}: the compressed data is corrupt or truncated after data row "
                f"{position}: {exc}"
            ) from exc
