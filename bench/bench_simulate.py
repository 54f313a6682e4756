"""Throughput of `fraudwatch simulate`: events generated and written per second, per format.

Runs the simulator end to end (world, timeline, scenarios, labels, writing) into a temporary
directory, several times per format, and prints each run's events/s (transactions + logins +
labels, wall clock), the CPU time it used, and the median. Also splits one run into generation
and writing to show where the time goes.

    .venv/bin/python bench/bench_simulate.py [--transactions 1000000] [--runs 3]
        [--formats parquet,json] [--seed 7]

The machine has two cores and a bimodal vCPU speed (see /work/shared/PERFORMANCE.md): compare
medians, and mind other processes (the CPU column shows how much of the wall time was ours).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

from fraudwatch.simulate import SimulationConfig, simulate
from fraudwatch.simulate.arrow import ArrowRenderer
from fraudwatch.simulate.service import summarize
from fraudwatch.simulate.simulation import generate
from fraudwatch.simulate.writers import EventCounter, EventLines, write_json, write_parquet


def _target(directory: Path, fmt: str, run: int) -> str:
    return str(directory / (f"run{run}.jsonl" if fmt == "json" else f"run{run}"))


def bench_format(fmt: str, config: SimulationConfig, runs: int, directory: Path) -> list[float]:
    rates = []
    for run in range(runs):
        cpu = time.process_time()
        summary = simulate(config, _target(directory, fmt, run), fmt)
        cpu = time.process_time() - cpu
        rates.append(summary.events_per_second)
        print(
            f"  {fmt:8s} run {run + 1}: {summary.events:>9,} events in "
            f"{summary.elapsed_seconds:6.2f} s wall, {cpu:6.2f} s CPU -> "
            f"{summary.events_per_second:>9,.0f} events/s"
        )
    print(f"  {fmt:8s} median: {statistics.median(rates):,.0f} events/s over {runs} runs")
    return rates


def split_one_run(config: SimulationConfig, directory: Path) -> None:
    """Generation vs writing, for one run of each format."""
    started = time.perf_counter()
    sim = generate(config)
    generated = time.perf_counter() - started
    summary = summarize(sim, generated)
    print(
        f"  generate: {generated:6.2f} s for {summary.transactions:,} transactions, "
        f"{summary.logins:,} logins, {summary.labels:,} labels "
        f"(fraud rate {summary.fraud_rate:.2%})"
    )
    renderer = ArrowRenderer(sim)
    started = time.perf_counter()
    write_parquet(sim, renderer, str(directory / "split"), EventCounter(summary.events, None))
    print(f"  write parquet: {time.perf_counter() - started:6.2f} s")
    started = time.perf_counter()
    lines = EventLines(sim, renderer)
    write_json(sim, lines, str(directory / "split.jsonl"), EventCounter(summary.events, None))
    print(f"  write json:    {time.perf_counter() - started:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", default="parquet,json")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = SimulationConfig(transactions=args.transactions, seed=args.seed)
    print(
        f"simulate benchmark: {args.transactions:,} transactions (+ logins and labels), "
        f"seed {args.seed}, default scenarios, {args.runs} runs per format"
    )
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for fmt in args.formats.split(","):
            bench_format(fmt, config, args.runs, directory)
        print("where the time goes (one run):")
        split_one_run(config, directory)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
