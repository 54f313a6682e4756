"""Online feature engine throughput with the default feature set, on one core.

Simulates a stream once (canonical Parquet), reads it back into feature rows, then, for the
native engine (`features/online/native`, the in-process default):
- the one-time JIT cost: compiling the kernel into an empty cache (a child process with its own
  `NUMBA_CACHE_DIR`, as on a clean checkout) and loading it from the cache (this process);
- times `process_batch` over the whole merged stream (events/s, several runs and the median);
- times single-event `process` on a slice (p50 / p99 per-event latency);
- measures the engine's state memory with tracemalloc, reported per million active keys;
and the Python `OnlineEngine` (in-process state) on the same stream, as the comparison line.

    .venv/bin/python bench/bench_features_online.py [--transactions 200000] [--runs 3]
        [--python-runs 1] [--no-compile] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.history import load_history
from fraudwatch.features.online import OnlineEngine, online_engine
from fraudwatch.features.online.native import NativeEngine
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow, merge_stream
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.simulate import SimulationConfig, simulate

Engine = NativeEngine | OnlineEngine
_COMPILE = (
    "import time; started = time.perf_counter();"
    "from fraudwatch.features.defaults import default_feature_set;"
    "from fraudwatch.features.online.native import NativeEngine;"
    "from bench_features_online import warm_up; warm_up(NativeEngine(default_feature_set()));"
    "print(time.perf_counter() - started)"
)


def load(transactions: int) -> list[StreamItem]:
    with tempfile.TemporaryDirectory() as tmp:
        simulate(SimulationConfig(transactions=transactions, seed=1), tmp, "parquet")
        ctx = IngestContext(tokenizer=CardTokenizer(bytes(32)))
        history = load_history("parquet", tmp, ctx, default_locator())
    return merge_stream(history.transactions, history.labels)


def warm_up(engine: NativeEngine) -> None:
    """Every kernel entry point once: a batch with a label, a late event, one event, a sweep."""
    rows = [
        TxRow(seq, f"w{seq}", seq * 60_000_000, 1_000_000 * (seq + 1), 0, "c", "u", "a", "m",
              "t", "d", "i", "5411", "pos", "chip", "EUR", "sim", "FR", "FR", "FR", "FR",
              48_000_000, 2_000_000, {})
        for seq in range(4)
    ]  # fmt: skip
    engine.process_batch([rows[0], rows[2], LabelRow("w0", 1, True), rows[1]])
    engine.process(rows[3])
    engine.sweep()


def compile_seconds() -> float:
    """Wall time of the first engine in a child process whose numba cache starts empty."""
    with tempfile.TemporaryDirectory() as cache:
        here = Path(__file__).resolve().parent
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(here)}
        done = subprocess.run(
            [sys.executable, "-c", _COMPILE], env=env, capture_output=True, text=True, check=True
        )
    return float(done.stdout.strip().splitlines()[-1])


def throughput(
    make: Callable[[], Engine], stream: list[StreamItem], runs: int
) -> tuple[list[float], list[float]]:
    """events/s per run, by wall clock and by this process's CPU time (which other processes
    on a shared machine disturb less)."""
    wall, cpu = [], []
    for _ in range(runs):
        engine = make()
        gc.collect()
        started, started_cpu = time.perf_counter(), time.process_time()
        engine.process_batch(stream)
        cpu.append(len(stream) / (time.process_time() - started_cpu))
        wall.append(len(stream) / (time.perf_counter() - started))
    return wall, cpu


def report(name: str, rates: tuple[list[float], list[float]]) -> None:
    for clock, values in zip(("wall", "cpu"), rates, strict=True):
        runs = " / ".join(f"{rate:,.0f}" for rate in values)
        median = statistics.median(values)
        print(
            f"{name} process_batch ({clock} clock): {runs} events/s; median of {len(values)}: "
            f"{median:,.0f} events/s"
        )


def latency(engine: Engine, stream: list[StreamItem]) -> tuple[float, float]:
    warm = len(stream) // 2
    engine.process_batch(stream[:warm])
    latencies = []
    for item in stream[warm : warm + 20_000]:
        started = time.perf_counter_ns()
        engine.process(item)
        if isinstance(item, TxRow):
            latencies.append(time.perf_counter_ns() - started)
    latencies.sort()
    return latencies[len(latencies) // 2] / 1000, latencies[int(len(latencies) * 0.99)] / 1000


def memory(features: FeatureSet, stream: list[StreamItem]) -> None:
    gc.collect()
    tracemalloc.start()
    engine = online_engine(features)
    engine.process_batch(stream)
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = engine.stats()
    keys = stats["keys"]
    print(f"state: {keys:,} active keys, {stats['events_held']:,} events held, {used / 1e6:.0f} MB")
    print(f"memory per million active keys: {used / keys * 1e6 / 1e9:.2f} GB (tracemalloc)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python-runs", type=int, default=1)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    features = default_feature_set()
    if not args.no_compile:
        print(f"JIT compile into an empty cache (child process): {compile_seconds():.1f} s")
    started = time.perf_counter()
    warm_up(NativeEngine(features))
    loaded = time.perf_counter() - started
    print(f"JIT load from the cache (first engine, this process): {loaded:.2f} s")
    stream = load(args.transactions)
    print(
        f"data: {len(stream):,} stream items ({args.transactions:,} simulated transactions, "
        f"seed 1, and their labels), default feature set of {len(features)} features, one core"
    )

    report("native", throughput(lambda: NativeEngine(features), stream, args.runs))
    p50, p99 = latency(NativeEngine(features), stream)
    print(
        "native single process (20,000 stream items after half the stream): "
        f"p50 {p50:.0f} us, p99 {p99:.0f} us"
    )
    memory(features, stream)

    report(
        "python OnlineEngine", throughput(lambda: OnlineEngine(features), stream, args.python_runs)
    )
    p50, p99 = latency(OnlineEngine(features), stream)
    print(f"python OnlineEngine single process (same slice): p50 {p50:.0f} us, p99 {p99:.0f} us")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(NativeEngine(features).process_batch, stream[: len(stream) // 4])
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
