"""Write a simulation: canonical JSON Lines, flat Parquet, a gateway format, or one file per bank.

- `json`: one tagged canonical event per line (transactions, logins, labels), in arrival order:
  transactions and logins at their event_time, labels at their known_at.
- `parquet`: a directory with transactions.parquet, labels.parquet and logins.parquet in the flat
  schemas of events/flat.py, written in row groups; `card_number` holds the PAN.
- a gateway writer's name (`cardnet-json`, `bank-csv`, `iso8583-log`): transactions in that format
  at PATH; labels and logins as canonical JSON Lines in PATH.labels.jsonl and PATH.logins.jsonl.
- `multi-bank`: a directory where each institution writes its transactions in its native format,
  plus labels.jsonl, logins.jsonl and manifest.json listing (file, format, source).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from fraudwatch.errors import FraudwatchError
from fraudwatch.events.flat import LABEL_SCHEMA, LOGIN_SCHEMA, TRANSACTION_SCHEMA
from fraudwatch.events.formats.base import get_writer
from fraudwatch.events.model import encode
from fraudwatch.simulate import catalog
from fraudwatch.simulate.arrow import ArrowRenderer
from fraudwatch.simulate.events import EventBuilder
from fraudwatch.simulate.json_lines import JsonLineEncoder
from fraudwatch.simulate.simulation import Simulation

Ints = npt.NDArray[np.int64]
Progress = Callable[[int, int], None]

JSON, PARQUET, MULTI_BANK = "json", "parquet", "multi-bank"
LINE_CHUNK = 32_768
_EXTENSIONS = {
    "json": ".jsonl",
    "cardnet-json": ".jsonl",
    "bank-csv": ".csv",
    "iso8583-log": ".log",
}
LOGIN, TRANSACTION, LABEL = 0, 1, 2
_STATISTICS = ("event_time", "known_at", "source", "channel", "currency", "is_fraud", "success")


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One written file and how to ingest it: `fraudwatch ingest PATH --format FORMAT`."""

    path: str
    format: str
    source: str | None  # the institution, None when the file mixes them
    kind: str  # transactions, logins, labels, or events (all three, in arrival order)
    events: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class EventCounter:
    """Adds up events written across files and reports them to the caller's progress hook."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self._progress = progress

    def add(self, count: int) -> None:
        self.done += count
        if self._progress is not None:
            self._progress(self.done, self.total)


def arrival_order(sim: Simulation) -> tuple[Ints, Ints]:
    """(kind, row) of every event in arrival order; ties: logins, then payments, then labels."""
    times = np.concatenate([sim.logins.time, sim.transactions.time, sim.labels.known_at])
    sizes = (len(sim.logins), len(sim.transactions), len(sim.labels))
    kind = np.repeat(np.array([LOGIN, TRANSACTION, LABEL]), sizes)
    row = np.concatenate([np.arange(size) for size in sizes])
    order = np.lexsort((kind, times))
    return kind[order], row[order]


@contextmanager
def _open(location: str | Path) -> Iterator[BinaryIO]:
    if str(location) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        yield handle


def _write_lines(handle: BinaryIO, lines: Iterable[bytes]) -> None:
    block = b"\n".join(lines)
    if block:
        handle.write(block + b"\n")


class EventLines:
    """Canonical JSON lines of any events of a simulation, by (kind, row)."""

    def __init__(self, sim: Simulation, renderer: ArrowRenderer) -> None:
        self.builder = EventBuilder(sim, renderer)
        self.fast = JsonLineEncoder(self.builder)

    def lines(self, kind: Ints, row: Ints) -> pa.Array:
        """The encoded events (each ending in a newline), in the given order."""
        parts: list[pa.Array] = []
        places: list[Ints] = []
        for code, encoder in (
            (LOGIN, self.fast.logins),
            (TRANSACTION, self.fast.transactions),
            (LABEL, self._labels),
        ):
            mine = np.flatnonzero(kind == code)
            if mine.size:
                parts.append(encoder(row[mine]))
                places.append(mine)
        if not parts:
            return pa.array([], type=pa.binary())
        order = np.empty(kind.size, dtype=np.int64)
        order[np.concatenate(places)] = np.arange(kind.size)
        return pa.concat_arrays(parts).take(pa.array(order))

    def _labels(self, rows: Ints) -> pa.Array:
        encoded = [encode(label) + b"\n" for label in self.builder.labels(rows)]
        return pa.array(encoded, type=pa.binary())


def _write_array(handle: BinaryIO, lines: pa.Array) -> None:
    """Write the bytes of a binary array's values back to back (they hold their newlines)."""
    if len(lines) == 0:
        return
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    handle.write(memoryview(lines.buffers()[2])[first:last])


def write_events(
    events: EventLines, kind: Ints, row: Ints, handle: BinaryIO, counter: EventCounter
) -> None:
    """Canonical JSON Lines of the given (kind, row) events, in that order."""

    def encode_chunk(lo: int, hi: int) -> pa.Array:
        return events.lines(kind[lo:hi], row[lo:hi])

    with ThreadPoolExecutor(max_workers=1) as pool:
        for lines in _rendered_ahead(pool, encode_chunk, kind.size, LINE_CHUNK):
            _write_array(handle, lines)
            counter.add(len(lines))


def write_json(
    sim: Simulation, events: EventLines, out: str, counter: EventCounter
) -> list[OutputFile]:
    kind, row = arrival_order(sim)
    with _open(out) as handle:
        write_events(events, kind, row, handle, counter)
    return [OutputFile(out, JSON, None, "events", int(kind.size))]


def write_parquet(
    sim: Simulation, renderer: ArrowRenderer, out: str, counter: EventCounter
) -> list[OutputFile]:
    """Three Parquet files; the next row group renders on a thread while this one is written."""
    if out == "-":
        raise FraudwatchError("the parquet format writes a directory: give --out a directory path")
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    tables = (
        ("transactions", TRANSACTION_SCHEMA, len(sim.transactions), renderer.transactions),
        ("labels", LABEL_SCHEMA, len(sim.labels), renderer.labels),
        ("logins", LOGIN_SCHEMA, len(sim.logins), renderer.logins),
    )
    step = sim.world.config.row_group_size
    outputs: list[OutputFile] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        for name, schema, count, render in tables:
            path = directory / f"{name}.parquet"
            # statistics only where readers filter (time ranges, sources): they cost a pass each
            stats = [c for c in _STATISTICS if c in schema.names]
            with pq.ParquetWriter(
                path, schema, compression="zstd", write_statistics=stats
            ) as writer:
                for table in _rendered_ahead(pool, render, count, step):
                    writer.write_table(table, row_group_size=step)
                    counter.add(table.num_rows)
            outputs.append(OutputFile(str(path), PARQUET, None, name, count))
    return outputs


def _rendered_ahead(
    pool: ThreadPoolExecutor, render: Callable[[int, int], pa.Table], count: int, step: int
) -> Iterator[pa.Table]:
    """`render(lo, hi)` of the slices [0, step), [step, 2 step) ..., one slice ahead on `pool`.

    Arrow kernels, the Parquet writer and file writes release the GIL, so rendering the next
    slice overlaps writing this one on the second core.
    """
    bounds = [(lo, min(count, lo + step)) for lo in range(0, count, step)]
    pending: Future[pa.Table] | None = None
    for i, (lo, hi) in enumerate(bounds):
        current = pending if pending is not None else pool.submit(render, lo, hi)
        pending = pool.submit(render, *bounds[i + 1]) if i + 1 < len(bounds) else None
        yield current.result()


def write_gateway(
    sim: Simulation, events: EventLines, name: str, out: str, counter: EventCounter
) -> list[OutputFile]:
    """Transactions in a gateway format at `out`, labels and logins as JSON Lines beside it."""
    if out == "-":
        raise FraudwatchError(f"the {name} format writes sidecar files: give --out a file path")
    rows = np.arange(len(sim.transactions))
    _gateway_file(events, name, rows, Path(out), counter)
    labels, logins = f"{out}.labels.jsonl", f"{out}.logins.jsonl"
    _sidecars(sim, events, Path(labels), Path(logins), counter)
    return [
        OutputFile(out, name, None, "transactions", rows.size),
        OutputFile(labels, JSON, None, "labels", len(sim.labels)),
        OutputFile(logins, JSON, None, "logins", len(sim.logins)),
    ]


def write_multi_bank(
    sim: Simulation, events: EventLines, out: str, counter: EventCounter
) -> list[OutputFile]:
    """Each institution's transactions in its own native format, plus shared labels and logins."""
    if out == "-":
        raise FraudwatchError(
            "the multi-bank format writes a directory: give --out a directory path"
        )
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    bank = sim.world.customers.bank[sim.transactions.customer]
    outputs: list[OutputFile] = []
    for b, institution in enumerate(catalog.INSTITUTIONS):
        name = institution.native_format
        path = directory / f"{institution.source}{_EXTENSIONS.get(name, '.txt')}"
        rows = np.flatnonzero(bank == b)
        _gateway_file(events, name, rows, path, counter)
        outputs.append(
            OutputFile(str(path), name, institution.source, "transactions", int(rows.size))
        )
    labels, logins = directory / "labels.jsonl", directory / "logins.jsonl"
    _sidecars(sim, events, labels, logins, counter)
    outputs.append(OutputFile(str(labels), JSON, None, "labels", len(sim.labels)))
    outputs.append(OutputFile(str(logins), JSON, None, "logins", len(sim.logins)))
    # the manifest names files relative to itself, so the directory can be moved
    manifest = [{**o.to_dict(), "path": Path(o.path).name} for o in outputs]
    (directory / "manifest.json").write_text(json.dumps({"files": manifest}, indent=2) + "\n")
    return outputs


def _gateway_file(
    events: EventLines, name: str, rows: Ints, path: Path, counter: EventCounter
) -> None:
    """`rows` transactions at `path`: canonical JSON for `json`, else the named gateway writer."""
    with _open(path) as handle:
        if name == JSON:
            write_events(events, np.full(rows.size, TRANSACTION), rows, handle, counter)
            return
        writer = get_writer(name)
        header = writer.header()
        if header is not None:
            handle.write(header.rstrip("\r\n").encode() + b"\n")
        for lo in range(0, rows.size, LINE_CHUNK):
            part = rows[lo : lo + LINE_CHUNK]
            made = events.builder.transactions(part)
            _write_lines(handle, (writer.encode(tx).rstrip("\r\n").encode() for tx in made))
            counter.add(int(part.size))


def _sidecars(
    sim: Simulation, events: EventLines, labels: Path, logins: Path, counter: EventCounter
) -> None:
    with _open(labels) as handle:
        count = len(sim.labels)
        write_events(events, np.full(count, LABEL), np.arange(count), handle, counter)
    with _open(logins) as handle:
        count = len(sim.logins)
        write_events(events, np.full(count, LOGIN), np.arange(count), handle, counter)
