"""Output formats: canonical JSON Lines and Parquet read back through the ingestion formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fraudwatch.errors import FraudwatchError, UnknownFormatError
from fraudwatch.events.flat import LABEL_SCHEMA, LOGIN_SCHEMA, TRANSACTION_SCHEMA
from fraudwatch.events.formats.base import IngestContext, get_format, writer_names
from fraudwatch.events.formats.canonical import CanonicalJson, CanonicalParquet
from fraudwatch.events.model import Event, Label, Transaction, decode_event, encode
from fraudwatch.simulate import SimulationConfig, output_formats, simulate
from fraudwatch.simulate.arrow import ArrowRenderer
from fraudwatch.simulate.catalog import INSTITUTIONS
from fraudwatch.simulate.events import EventBuilder
from fraudwatch.simulate.json_lines import JsonLineEncoder
from fraudwatch.simulate.simulation import generate

from .conftest import Stream

SMALL = SimulationConfig(transactions=4_000, seed=5)


def arrival_time(line: bytes) -> str:
    event = json.loads(line)
    return str(event["known_at"] if event["type"] == "label" else event["event_time"])


def test_every_json_line_is_a_canonical_event_encoded_exactly(stream: Stream) -> None:
    assert len(stream.lines) == stream.summary.events
    for line in stream.lines:
        assert encode(decode_event(line)) == line
    assert all(tx.card is not None and tx.card.number for tx in stream.transactions)
    assert all(tx.card is not None and tx.card.token is None for tx in stream.transactions)


def test_json_stream_is_in_arrival_order(stream: Stream) -> None:
    times = [arrival_time(line) for line in stream.lines]
    assert times == sorted(times)  # RFC 3339 UTC strings of whole seconds sort as times
    kinds = {json.loads(line)["type"] for line in stream.lines}
    assert kinds == {"transaction", "login", "label"}


def test_json_reads_through_the_json_format_without_errors(
    stream: Stream, ctx: IngestContext
) -> None:
    parsed = list(CanonicalJson().read(str(stream.path), ctx))
    assert [p.error for p in parsed if p.error] == []
    assert len(parsed) == stream.summary.events


def test_fast_json_lines_equal_encoding_the_canonical_structs() -> None:
    sim = generate(SMALL)
    slow = EventBuilder(sim, ArrowRenderer(sim))
    fast = JsonLineEncoder(slow)
    rows = np.arange(len(sim.transactions))
    expected = [encode(tx) + b"\n" for tx in slow.transactions(rows)]
    assert fast.transactions(rows).to_pylist() == expected
    rows = np.arange(len(sim.logins))
    expected = [encode(login) + b"\n" for login in slow.logins(rows)]
    assert fast.logins(rows).to_pylist() == expected


def test_parquet_uses_the_flat_schemas_and_reads_back_without_errors(
    tmp_path: Path, ctx: IngestContext
) -> None:
    summary = simulate(SMALL, str(tmp_path), "parquet")
    schemas = {"transactions": TRANSACTION_SCHEMA, "labels": LABEL_SCHEMA, "logins": LOGIN_SCHEMA}
    for name, schema in schemas.items():
        assert pq.read_schema(tmp_path / f"{name}.parquet").remove_metadata() == schema
    parsed = list(CanonicalParquet().read(str(tmp_path), ctx))
    assert [p.error for p in parsed if p.error] == []
    assert len(parsed) == summary.events
    table = pq.read_table(tmp_path / "transactions.parquet")
    assert table.column("card_token").null_count == table.num_rows
    assert table.column("card_number").null_count == 0


def test_parquet_and_json_carry_the_same_events(tmp_path: Path, ctx: IngestContext) -> None:
    simulate(SMALL, str(tmp_path / "pq"), "parquet")
    simulate(SMALL, str(tmp_path / "stream.jsonl"), "json")
    from_parquet = [e for p in CanonicalParquet().read(str(tmp_path / "pq"), ctx) for e in p.events]
    from_json = [
        e for p in CanonicalJson().read(str(tmp_path / "stream.jsonl"), ctx) for e in p.events
    ]

    def by_key(events: list[Event]) -> dict[str, Event]:
        keyed: dict[str, Event] = {}
        for event in events:
            if isinstance(event, Transaction):
                keyed[event.transaction_id] = event
            elif isinstance(event, Label):
                keyed[event.label_id] = event
            else:
                keyed[event.login_id] = event
        return keyed

    assert by_key(from_parquet) == by_key(from_json)


def test_json_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    summary = simulate(SimulationConfig(transactions=300, seed=1), "-", "json")
    lines = capsysbinary.readouterr().out.splitlines()
    assert len(lines) == summary.events
    assert all(decode_event(line) for line in lines)


def test_directory_and_sidecar_formats_refuse_stdout() -> None:
    with pytest.raises(FraudwatchError):
        simulate(SimulationConfig(transactions=300), "-", "parquet")
    with pytest.raises(FraudwatchError):
        simulate(SimulationConfig(transactions=300), "-", "multi-bank")


def test_unknown_format_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownFormatError, match="parquet"):
        simulate(SimulationConfig(transactions=300), "x", "xml")
    assert {"json", "parquet", "multi-bank"} <= set(output_formats())


def _require_writers(*names: str) -> None:
    missing = [name for name in names if name not in writer_names()]
    if missing:
        pytest.skip(f"gateway writers not registered yet: {missing}")


@pytest.mark.parametrize("name", ["cardnet-json", "bank-csv", "iso8583-log"])
def test_gateway_format_with_label_and_login_sidecars(
    name: str, tmp_path: Path, ctx: IngestContext
) -> None:
    _require_writers(name)
    out = tmp_path / f"tx.{name}"
    summary = simulate(SimulationConfig(transactions=1_500, seed=2), str(out), name)
    assert [o.path for o in summary.outputs] == [
        str(out),
        f"{out}.labels.jsonl",
        f"{out}.logins.jsonl",
    ]
    for output in summary.outputs:
        parsed = list(get_format(output.format).read(output.path, ctx))
        assert [p.error for p in parsed if p.error] == []
        assert len(parsed) == output.events


def test_multi_bank_writes_each_bank_natively_with_a_manifest(
    tmp_path: Path, ctx: IngestContext
) -> None:
    _require_writers(*(i.native_format for i in INSTITUTIONS if i.native_format != "json"))
    summary = simulate(SimulationConfig(transactions=3_000, seed=4), str(tmp_path), "multi-bank")
    manifest = json.loads((tmp_path / "manifest.json").read_text())["files"]
    assert [entry["path"] for entry in manifest] == [Path(o.path).name for o in summary.outputs]
    banks = {o.source: o for o in summary.outputs if o.kind == "transactions"}
    assert {i.source: i.native_format for i in INSTITUTIONS} == {
        source: output.format for source, output in banks.items()
    }
    transactions = 0
    for output in summary.outputs:
        # the manifest's source is what ingestion is told (`--source`) for formats without one
        options = {"source": output.source} if output.source else {}
        reader_ctx = IngestContext(tokenizer=ctx.tokenizer, options=options)
        parsed = list(get_format(output.format).read(output.path, reader_ctx))
        assert [p.error for p in parsed if p.error] == []
        events = [e for p in parsed for e in p.events]
        if output.kind == "transactions":
            assert {e.source for e in events if isinstance(e, Transaction)} == {output.source}
            transactions += len(events)
    assert transactions == summary.transactions == 3_000


def test_progress_reports_every_event(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    summary = simulate(
        SMALL, str(tmp_path), "parquet", lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (summary.events, summary.events)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
