"""The Kafka transport alone, the floor under the Kafka path's latency: the product's own
`KafkaProducer` (in a process of its own) sends messages at a fixed rate to a throwaway Tansu,
and its `KafkaConsumer` (a consumer group, the worker's settings) reads them, doing nothing
else. Latency per message = when it was received - its timestamp (set when it was produced);
the first tenth of the messages (partition and connection set-up) is left out.

Each run starts a fresh broker. With several `--linger` values the runs alternate between
them (the machine's speed drifts), and each value gets its own median.

    .venv/bin/python bench/bench_broker.py [--rate 5000] [--seconds 8] [--runs 3]
        [--linger 2 --linger 10] [--partitions 4] [--message-bytes 600]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time
from typing import Any

import numpy as np

from fraudwatch.devtools.kafka import throwaway_tansu
from fraudwatch.stream.kafka import PRODUCER_DEFAULTS, KafkaConsumer, KafkaProducer, ensure_topics
from fraudwatch.stream.load import send

TOPIC = "bench.transport"
JOIN_TIMEOUT_S = 60.0
DRAIN_S = 2.0  # how long the consumer goes on reading after the producer has finished


def produce(bootstrap: str, rate: float, count: int, size: int, linger: float) -> None:
    """`count` messages at `rate` per second, keyed over 1,000 keys, then a flush (the load
    producer's own pacing, `stream.load.send`)."""
    producer = KafkaProducer(bootstrap, config={"linger.ms": linger})
    payload = b"x" * size
    send(((str(i % 1000).encode(), payload) for i in range(count)), producer, TOPIC, rate=rate)


def one_run(args: Any, linger: float) -> dict[str, float]:
    count = int(args.rate * args.seconds)
    with throwaway_tansu() as bootstrap:
        ensure_topics(bootstrap, {TOPIC: args.partitions})
        consumer = KafkaConsumer(bootstrap, group="bench-transport", topics=[TOPIC])
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while not consumer.assignment:
            if time.monotonic() > deadline:
                raise SystemExit("the consumer did not join its group in time")
            consumer.poll(10, 0.1)
        latencies: list[float] = []
        stop = threading.Event()

        def consume() -> None:
            while not stop.is_set():
                messages = consumer.poll(5000, 0.05)
                now_ms = time.time() * 1000.0
                latencies.extend(now_ms - m.timestamp_ms for m in messages if m.timestamp_ms)

        reader = threading.Thread(target=consume, name="bench-consumer")
        reader.start()
        producer = multiprocessing.get_context("spawn").Process(
            target=produce, args=(bootstrap, args.rate, count, args.message_bytes, linger)
        )
        producer.start()
        producer.join()
        time.sleep(DRAIN_S)
        stop.set()
        reader.join()
        consumer.close()
    if producer.exitcode != 0:
        raise SystemExit(f"the producer failed (exit code {producer.exitcode})")
    if len(latencies) < count:
        raise SystemExit(f"{count - len(latencies):,} of {count:,} messages were not received")
    measured = np.asarray(latencies[count // 10 :])
    p50, p95, p99, top = np.percentile(measured, [50, 95, 99, 100])
    return {"p50": p50, "p95": p95, "p99": p99, "max": top}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=5000, help="messages per second")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--runs", type=int, default=3, help="per linger value")
    parser.add_argument(
        "--linger",
        type=float,
        action="append",
        help=f"the producer's linger.ms (repeatable; default: the product's, "
        f"{PRODUCER_DEFAULTS['linger.ms']})",
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--message-bytes", type=int, default=600)
    args = parser.parse_args()
    lingers = args.linger or [PRODUCER_DEFAULTS["linger.ms"]]
    print(
        f"the Kafka transport alone: {args.message_bytes}-byte messages at {args.rate:,.0f}/s "
        f"for {args.seconds:g} s to a throwaway Tansu ({args.partitions} partitions), the "
        f"product's producer (own process) and consumer; produced -> received, the first "
        f"tenth left out; {args.runs} runs per linger.ms in {lingers}, alternated",
        flush=True,
    )
    results: dict[float, list[dict[str, float]]] = {linger: [] for linger in lingers}
    for run in range(args.runs):
        for linger in lingers:
            found = one_run(args, linger)
            results[linger].append(found)
            print(
                f"  run {run + 1}, linger {linger:g} ms: p50 {found['p50']:.1f} / p95 "
                f"{found['p95']:.1f} / p99 {found['p99']:.1f} / max {found['max']:.0f} ms",
                flush=True,
            )
    for linger, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("p50", "p95", "p99", "max")}
        print(
            f"median of {len(runs)} runs, linger {linger:g} ms: p50 {med['p50']:.1f} ms, p95 "
            f"{med['p95']:.1f} ms, p99 {med['p99']:.1f} ms, max {med['max']:.0f} ms"
        )


if __name__ == "__main__":
    main()
