"""Ingestion throughput end to end: a file -> format adapter -> dedup -> store, records/s.

Simulates a canonical JSON Lines stream once (transactions, logins, labels), then ingests it
into a fresh store several times: the embedded SQLite file and a PostgreSQL server (a throwaway
one started on loopback unless --postgres-url is given). Each run is the whole `fraudwatch
ingest` use case: parsing, validation, card tokenisation, content hashing, the dedup lookup,
encryption of personal fields and the batched write. Prints every run and the median.

    .venv/bin/python bench/bench_ingest.py [--transactions 200000] [--runs 3] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from fraudwatch.events.formats.base import IngestContext, get_format
from fraudwatch.events.ingest import Ingestion
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.simulate import SimulationConfig, simulate
from fraudwatch.storage.store import open_store

KEYS = KeyRing({"k1": bytes(range(32))}, "k1")
TOKENS = CardTokenizer(bytes(range(1, 33)))


def ingest_once(url: str, path: Path, fmt: str, batch: int) -> tuple[int, float]:
    store = open_store(url, KEYS)
    store.migrate()
    try:
        ctx = IngestContext(tokenizer=TOKENS, source="bench")
        ingestion = Ingestion(store, source="bench", format=fmt, batch_size=batch)
        started = time.perf_counter()
        report = ingestion.run(get_format(fmt).read(str(path), ctx))
        seconds = time.perf_counter() - started
        assert report.balanced and report.dead_lettered == 0, report.as_dict()
        return report.read, seconds
    finally:
        store.close()


@contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from fraudwatch.devtools.postgres import throwaway_postgres

    with throwaway_postgres(shared_buffers="256MB") as started:
        yield started


def fresh_pg_database(server: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(server.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def report(name: str, runs: list[tuple[int, float]]) -> dict[str, object]:
    rates = [records / seconds for records, seconds in runs]
    for index, (records, seconds) in enumerate(runs, 1):
        rate = records / seconds
        print(f"  {name} run {index}: {records:,} records in {seconds:.2f} s = {rate:,.0f}/s")
    median = statistics.median(rates)
    print(f"  {name}: median {median:,.0f} records/s over {len(runs)} runs")
    return {"runs": len(runs), "records": runs[0][0], "median_records_per_s": round(median)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--postgres-url")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print one JSON object at the end")
    args = parser.parse_args()

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "stream.jsonl"
        summary = simulate(
            SimulationConfig(transactions=args.transactions, seed=1), str(stream), "json"
        )
        print(
            f"ingest benchmark: {summary.events:,} canonical JSON events "
            f"({summary.transactions:,} transactions, {summary.logins:,} logins, "
            f"{summary.labels:,} labels) from the simulator, seed 1, "
            f"batch {args.batch}, {args.runs} runs per store"
        )
        sqlite_runs = []
        for run in range(args.runs):
            url = f"sqlite:///{Path(folder) / f'run{run}.db'}"
            sqlite_runs.append(ingest_once(url, stream, "json", args.batch))
        results["sqlite"] = report("SQLite (embedded)", sqlite_runs)
        if not args.skip_postgres:
            with postgres_server(args.postgres_url) as server:
                pg_runs = [
                    ingest_once(fresh_pg_database(server), stream, "json", args.batch)
                    for _ in range(args.runs)
                ]
            results["postgresql"] = report("PostgreSQL (COPY)", pg_runs)
    if args.json:
        print(json.dumps({"benchmark": "ingest", **results}))


if __name__ == "__main__":
    main()
