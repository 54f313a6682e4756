"""Online feature engine throughput with its state in Redis (`RedisState`), default feature set.

Simulates a stream once (canonical Parquet, as `bench_features_online.py`), starts a throwaway
`redis-server` on loopback (or uses `--url`), then per batch size times `process_batch` over the
whole merged stream in batches, one worker, each run in a fresh namespace; prints every run, the
median events/s (labels included in the events), the round trips per batch and the bytes sent and
received per event, and CPU seconds (worker and Redis server: on a busy machine the wall clock
counts other processes' time too). `--baseline` times the in-process state on the same batches
before each run; `--workers 2` times workers that take the batches in turn (each replays what the
others wrote).

    .venv/bin/python bench/bench_features_redis.py [--transactions 50000] [--runs 3]
        [--batch 256 --batch 1024] [--workers 1] [--url redis://...] [--baseline] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import pstats
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass

from fraudwatch.devtools.redis import throwaway_redis
from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.history import load_history
from fraudwatch.features.online.engine import OnlineEngine
from fraudwatch.features.online.redis_state import RedisState, horizon_ttl_s
from fraudwatch.features.rows import StreamItem, merge_stream
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.simulate import SimulationConfig, simulate


def load(transactions: int) -> list[StreamItem]:
    """The merged stream of a simulation (seed 1), as `bench_features_online.py` makes it."""
    with tempfile.TemporaryDirectory() as tmp:
        simulate(SimulationConfig(transactions=transactions, seed=1), tmp, "parquet")
        ctx = IngestContext(tokenizer=CardTokenizer(bytes(32)))
        history = load_history("parquet", tmp, ctx, default_locator())
    return merge_stream(history.transactions, history.labels)


@dataclass
class Run:
    seconds: float  # wall clock
    cpu: float  # CPU seconds of this process (the worker)
    server_cpu: float  # CPU seconds of the Redis server
    round_trips: int
    batches: int
    sent: int
    received: int


def _server_cpu(store: RedisState) -> float:
    info = store.client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run(url: str, stream: list[StreamItem], batch: int, workers: int = 1) -> Run:
    """One pass over the stream, batches dealt to the workers in turn."""
    features = default_feature_set()
    namespace = f"bench-{uuid.uuid4().hex}"
    ttl_s = horizon_ttl_s(features)
    stores = [RedisState(url, namespace=namespace, ttl_s=ttl_s) for _ in range(workers)]
    engines = [OnlineEngine(features, state=store) for store in stores]
    gc.collect()
    server = _server_cpu(stores[0])
    cpu, started = time.process_time(), time.perf_counter()
    starts = range(0, len(stream), batch)
    for number, start in enumerate(starts):
        engines[number % workers].process_batch(stream[start : start + batch])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    server = _server_cpu(stores[0]) - server
    stores[0].clear()
    return Run(
        seconds,
        cpu,
        server,
        sum(s.round_trips for s in stores),
        len(starts),
        sum(s.bytes_sent for s in stores),
        sum(s.bytes_received for s in stores),
    )


def baseline(stream: list[StreamItem], batch: int) -> tuple[float, float]:
    """Seconds and CPU seconds of the same batches on the in-process state (the reference)."""
    engine = OnlineEngine(default_feature_set())
    gc.collect()
    cpu, started = time.process_time(), time.perf_counter()
    for start in range(0, len(stream), batch):
        engine.process_batch(stream[start : start + batch])
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--url", help="an existing Redis (default: a throwaway redis-server)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--baseline", action="store_true", help="also time the in-process state before each run"
    )
    args = parser.parse_args()
    batches = args.batch or [256, 1024]
    stream = load(args.transactions)
    features = default_feature_set()
    print(
        "what: OnlineEngine.process_batch with RedisState (one fetch and one commit Lua call per "
        f"batch), {len(features)} default features, one core, {args.workers} worker(s) in turn"
    )
    print(f"data: simulated, {args.transactions:,} transactions, {len(stream):,} stream items")
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(throwaway_redis())
        print(f"redis: {'given' if args.url else 'throwaway, loopback'}; runs: {args.runs}")
        for batch in batches:
            rates, cpu_rates = [], []
            for index in range(args.runs):
                if args.baseline:
                    seconds, cpu = baseline(stream, batch)
                    print(
                        f"batch {batch} in-process reference: {len(stream) / seconds:,.0f} "
                        f"events/s wall, {len(stream) / cpu:,.0f} per CPU second"
                    )
                done = run(url, stream, batch, args.workers)
                rates.append(len(stream) / done.seconds)
                cpu_rates.append(len(stream) / (done.cpu + done.server_cpu))
                print(
                    f"batch {batch} run {index + 1}: {rates[-1]:,.0f} events/s wall "
                    f"({done.seconds:.1f} s; worker CPU {done.cpu:.1f} s + Redis CPU "
                    f"{done.server_cpu:.1f} s = {cpu_rates[-1]:,.0f} events per CPU second; "
                    f"{done.round_trips / done.batches:.1f} round trips per batch; "
                    f"{done.sent / len(stream):,.0f} B sent and "
                    f"{done.received / len(stream):,.0f} B received per event)"
                )
            print(
                f"batch {batch} median: {statistics.median(rates):,.0f} events/s wall, "
                f"{statistics.median(cpu_rates):,.0f} events per CPU second (worker + Redis)"
            )
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(run, url, stream[: len(stream) // 4], batches[-1], args.workers)
            pstats.Stats(profile).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
