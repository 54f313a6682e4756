"""Online feature engine throughput with the default feature set, on one core.

Simulates a stream once (canonical Parquet), reads it back into feature rows, then:
- times `process_batch` over the whole merged stream (events/s, several runs and the median);
- times single-event `process` on a slice (p50 / p99 per-event latency);
- measures the engine's state memory with tracemalloc, reported per million active keys.

    .venv/bin/python bench/bench_features_online.py [--transactions 200000] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import tempfile
import time
import tracemalloc

from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.history import load_history
from fraudwatch.features.online import OnlineEngine
from fraudwatch.features.rows import StreamItem, TxRow, merge_stream
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.simulate import SimulationConfig, simulate


def load(transactions: int) -> list[StreamItem]:
    with tempfile.TemporaryDirectory() as tmp:
        simulate(SimulationConfig(transactions=transactions, seed=1), tmp, "parquet")
        ctx = IngestContext(tokenizer=CardTokenizer(bytes(32)))
        history = load_history("parquet", tmp, ctx, default_locator())
    return merge_stream(history.transactions, history.labels)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    features = default_feature_set()
    stream = load(args.transactions)
    print(f"{len(stream):,} stream items, {len(features)} features")

    rates = []
    for run in range(args.runs):
        engine = OnlineEngine(features)
        gc.collect()
        started = time.perf_counter()
        engine.process_batch(stream)
        seconds = time.perf_counter() - started
        rates.append(len(stream) / seconds)
        print(f"run {run + 1}: {rates[-1]:,.0f} events/s ({seconds:.1f} s)")
    print(f"process_batch median: {statistics.median(rates):,.0f} events/s")

    engine = OnlineEngine(features)
    warm = len(stream) // 2
    engine.process_batch(stream[:warm])
    latencies = []
    for item in stream[warm : warm + 20_000]:
        started = time.perf_counter_ns()
        engine.process(item)
        if isinstance(item, TxRow):
            latencies.append(time.perf_counter_ns() - started)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"single process: p50 {p50 / 1000:.0f} us, p99 {p99 / 1000:.0f} us")

    gc.collect()
    tracemalloc.start()
    engine = OnlineEngine(features)
    engine.process_batch(stream)
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = engine.stats()
    keys = stats["keys"]
    print(f"state: {keys:,} keys, {stats['events_held']:,} events held, {used / 1e6:.0f} MB")
    print(f"memory per million active keys: {used / keys * 1e6 / 1e9:.2f} GB")

    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(OnlineEngine(features).process_batch, stream[: len(stream) // 4])
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
