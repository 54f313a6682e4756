"""Offline feature engine throughput: the default feature set over simulated history, rows/s.

Simulates canonical Parquet once per size, then measures separately (each `--runs` times):
row extraction in Python (read the Parquet events, enrich them into `TxRow`/`LabelRow`, build
the Arrow tables) and SQL execution in DuckDB (`OfflineEngine.compute`, every feature of every
transaction). Prints every run and the median rows/s.

    .venv/bin/python bench/bench_features_offline.py [--transactions 200000 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.history import load_history
from fraudwatch.features.offline import OfflineEngine
from fraudwatch.features.rows import label_table, tx_table
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.simulate import SimulationConfig, simulate


def extract(directory: Path) -> tuple[pa.Table, pa.Table]:
    ctx = IngestContext(tokenizer=CardTokenizer(bytes(32)))
    history = load_history("parquet", str(directory), ctx, default_locator())
    return tx_table(history.transactions, history.attribute_names()), label_table(history.labels)


def report(what: str, rows: int, seconds: list[float]) -> None:
    rates = [rows / s for s in seconds]
    runs = ", ".join(f"{s:.2f} s" for s in seconds)
    print(f"  {what}: runs {runs}; median {statistics.median(rates):,.0f} rows/s")


def bench(transactions: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "sim"
        simulate(SimulationConfig(transactions=transactions, seed=1), str(directory), "parquet")
        extraction = []
        for _ in range(runs):
            started = time.perf_counter()
            tx, labels = extract(directory)
            extraction.append(time.perf_counter() - started)
    engine = OfflineEngine(default_feature_set())
    execution = []
    for _ in range(runs):
        started = time.perf_counter()
        table = engine.compute(tx, labels)
        execution.append(time.perf_counter() - started)
    assert table.num_rows == tx.num_rows
    print(
        f"{tx.num_rows:,} simulated transactions ({labels.num_rows:,} labels, seed 1), "
        f"default set ({len(engine.feature_set)} features), {runs} runs, {os.cpu_count()} CPUs:"
    )
    report("row extraction (Python: Parquet -> rows -> Arrow)", tx.num_rows, extraction)
    report("SQL execution (DuckDB, all features)", tx.num_rows, execution)
    total = [a + b for a, b in zip(extraction, execution, strict=True)]
    report("end to end", tx.num_rows, total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for transactions in args.transactions:
        bench(transactions, args.runs)


if __name__ == "__main__":
    main()
