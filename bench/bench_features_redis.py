"""Online feature engine throughput with its state in Redis (`RedisState`), default feature set.

Simulates a stream once (canonical Parquet, as `bench_features_online.py`), starts a throwaway
`redis-server` on loopback (or uses `--url`), then per batch size times `process_batch` over the
whole merged stream in batches (one MGET and one Lua save per batch), each run in a fresh
namespace; prints every run and the median events/s (labels included in the events).

    .venv/bin/python bench/bench_features_redis.py [--transactions 50000] [--runs 3]
        [--batch 256 --batch 1024] [--url redis://...] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import pstats
import statistics
import time
import uuid

from bench_features_online import load

from fraudwatch.devtools.redis import throwaway_redis
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.online import OnlineEngine
from fraudwatch.features.online.redis_state import RedisState, horizon_ttl_s
from fraudwatch.features.rows import StreamItem


def run(url: str, stream: list[StreamItem], batch: int) -> tuple[float, int, int]:
    """Seconds, Redis keys at the end, conflicts (always 0 with one worker)."""
    features = default_feature_set()
    store = RedisState(url, namespace=f"bench-{uuid.uuid4().hex}", ttl_s=horizon_ttl_s(features))
    engine = OnlineEngine(features, state=store)
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(stream), batch):
        engine.process_batch(stream[start : start + batch])
    seconds = time.perf_counter() - started
    keys = store.clear()
    return seconds, keys, 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--url", help="an existing Redis (default: a throwaway redis-server)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    batches = args.batch or [256, 1024]
    stream = load(args.transactions)
    features = default_feature_set()
    print(
        "what: OnlineEngine.process_batch with RedisState (one read script and one Lua save per "
        f"batch), {len(features)} default features, one core, one worker"
    )
    print(f"data: simulated, {args.transactions:,} transactions, {len(stream):,} stream items")
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(throwaway_redis())
        print(f"redis: {'given' if args.url else 'throwaway, loopback'}; runs: {args.runs}")
        for batch in batches:
            rates = []
            for index in range(args.runs):
                seconds, keys, _ = run(url, stream, batch)
                rates.append(len(stream) / seconds)
                print(
                    f"batch {batch} run {index + 1}: {rates[-1]:,.0f} events/s "
                    f"({seconds:.1f} s, {keys:,} Redis keys)"
                )
            print(f"batch {batch} median: {statistics.median(rates):,.0f} events/s")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(run, url, stream[: len(stream) // 4], batches[-1])
            pstats.Stats(profile).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
