"""The Kafka path end to end: simulated transactions produced to a topic on a throwaway Tansu
broker, scored by `fraudwatch worker` processes (one consumer group), decisions stored in the
embedded store and then published. Two scenarios per run:

- drain: N transactions wait on the topic; throughput = transactions / (last batch committed -
  first batch received), over all workers;
- sustained: the producer sends at a fixed rate (default 10,000/s) while the workers run;
  latency per transaction = the decision message's timestamp (produced right after the decision
  was stored) - the transaction message's timestamp (set when it was produced), measured from the
  two topics, not by the worker. "kept up" means the decisions ended within 1 s of the traffic.

Full default feature set, the 24-rule starter set (a model only when the scoring service loads
one), persistence on (SQLite, transactions and decisions). Medians of several runs: the machine
is shared, figures are noisy.

    .venv/bin/python bench/bench_kafka.py --transactions 200000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import confluent_kafka
import msgspec
import numpy as np

from fraudwatch.bootstrap import bootstrap
from fraudwatch.devtools.kafka import throwaway_tansu
from fraudwatch.settings import load_settings
from fraudwatch.simulate import SimulationConfig, simulate
from fraudwatch.stream.kafka import KafkaProducer, ensure_topics
from fraudwatch.stream.load import Keyed, keyed, send


def transactions_only(path: Path, limit: int) -> list[bytes]:
    out = []
    with path.open("rb") as lines:
        for line in lines:
            if b'"type":"transaction"' in line:
                out.append(line)
                if len(out) >= limit:
                    break
    return out


def template_home(root: Path) -> Path:
    """Keys and an empty migrated store, copied for every run (same token key, fresh data)."""
    home = root / "template"
    app = bootstrap(load_settings(home=home, warmup_days=0))
    _ = app.tokenizer, app.store
    app.close()
    return home


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env.update(FRAUDWATCH_HOME=str(home), FRAUDWATCH_WARMUP_DAYS="0")
    return env


def start_workers(
    n: int, home: Path, bootstrap_servers: str, topic: str, decisions: str, args: Any, logs: Path
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    workers = []
    for k in range(n):
        log = logs / f"{topic}-{k}.log"
        command = [
            sys.executable, "-m", "fraudwatch.cli.main", "worker",
            "--bootstrap-servers", bootstrap_servers, "--group", f"g-{topic}",
            "--topic", topic, "--decisions-topic", decisions,
            "--dead-letter-topic", f"{topic}.dead", "--batch-size", str(args.batch_size),
            "--idle-exit-s", "4", "--partitions", str(args.partitions), "--json",
        ]  # fmt: skip
        with log.open("wb") as err:
            workers.append(
                (
                    subprocess.Popen(
                        command, env=env_for(home), stdout=subprocess.PIPE, stderr=err
                    ),
                    log,
                )
            )
    return workers


def wait_joined(
    workers: list[tuple[subprocess.Popen[bytes], Path]], timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(b"assigned [" in log.read_bytes() for _, log in workers):
            return
        time.sleep(0.2)
    raise SystemExit("workers did not join the group in time")


def finish(workers: list[tuple[subprocess.Popen[bytes], Path]]) -> list[dict[str, Any]]:
    out = []
    for process, log in workers:
        stdout, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            raise SystemExit(f"worker failed:\n{log.read_text()[-2000:]}")
        out.append(json.loads(stdout))
    return out


class _Id(msgspec.Struct):
    transaction_id: str


def timestamps(
    bootstrap_servers: str, topic: str, expected: int, *, by_value: bool
) -> dict[bytes, int]:
    """Message timestamp (ms) per transaction id (the key, or read from the value); the first
    message of an id wins."""
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": f"reader-{topic}",
         "enable.auto.commit": False}
    )  # fmt: skip
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in parts])
    decode = msgspec.json.Decoder(_Id).decode
    out: dict[bytes, int] = {}
    deadline = time.monotonic() + 120
    while len(out) < expected and time.monotonic() < deadline:
        for m in consumer.consume(num_messages=20_000, timeout=0.2):
            if m.error() is None:
                key = decode(m.value()).transaction_id.encode() if by_value else m.key()
                out.setdefault(key, m.timestamp()[1])
    consumer.close()
    return out


def stage_totals(summaries: list[dict[str, Any]]) -> dict[str, float]:
    stages: dict[str, float] = {}
    for s in summaries:
        for name, took in s["stage_seconds"].items():
            stages[name] = stages.get(name, 0.0) + took
    return stages


def drain(
    bootstrap_servers: str, home: Path, messages: list[Keyed], args: Any, logs: Path
) -> dict[str, Any]:
    topic, decisions = "drain", "drain.decisions"
    ensure_topics(bootstrap_servers, {topic: args.partitions, decisions: args.partitions})
    producer = KafkaProducer(bootstrap_servers)
    send(messages, producer, topic)
    producer.close()
    summaries = finish(
        start_workers(args.workers, home, bootstrap_servers, topic, decisions, args, logs)
    )
    decided = sum(s["transactions"] for s in summaries)
    start = min(s["first_message_at"] for s in summaries if s["first_message_at"])
    end = max(s["last_batch_at"] for s in summaries if s["last_batch_at"])
    return {
        "decided": decided,
        "tx_per_s": decided / (end - start),
        "stages": stage_totals(summaries),
    }


def sustained(
    bootstrap_servers: str, home: Path, messages: list[Keyed], args: Any, logs: Path, rate: float
) -> dict[str, Any]:
    topic, decisions = f"live-{rate:.0f}", f"live-{rate:.0f}.decisions"
    ensure_topics(bootstrap_servers, {topic: args.partitions, decisions: args.partitions})
    workers = start_workers(args.workers, home, bootstrap_servers, topic, decisions, args, logs)
    wait_joined(workers)
    time.sleep(1.0)
    producer = KafkaProducer(bootstrap_servers)
    send(messages, producer, topic, rate=rate)
    producer.close()
    summaries = finish(workers)
    produced = timestamps(bootstrap_servers, topic, len(messages), by_value=True)
    decided = timestamps(bootstrap_servers, decisions, len(produced), by_value=False)
    latency = np.array([decided[k] - produced[k] for k in decided if k in produced], dtype=float)
    span_s = (max(decided.values()) - min(produced.values())) / 1000
    traffic_s = (max(produced.values()) - min(produced.values())) / 1000
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {
        "decided": len(decided),
        "offered_tx_per_s": len(produced) / traffic_s,
        "tx_per_s": len(decided) / span_s,
        "kept_up": span_s - traffic_s < 1.0,
        "p50": p50, "p95": p95, "p99": p99, "max": float(latency.max()),
        "worker_p99": max(s["latency_ms"]["p99"] for s in summaries if s["latency_ms"]),
    }  # fmt: skip


def one_run(lines: list[bytes], template: Path, args: Any, root: Path, run: int) -> dict[str, Any]:
    home = root / f"run-{run}"
    shutil.copytree(template, home)
    logs = root / f"logs-{run}"
    logs.mkdir()
    app = bootstrap(load_settings(home=home, warmup_days=0))
    tokenizer = app.tokenizer
    app.close()
    messages = [message for message, _ in keyed(lines, tokenizer)]
    live_count = int(args.rate * args.seconds)
    with throwaway_tansu() as bootstrap_servers:
        drained = drain(bootstrap_servers, home, messages[: args.transactions], args, logs)
        # live traffic continues the same stream (later event times, the same cards): at the
        # target rate, then at half the drain throughput (a rate the worker can keep up with)
        rest = messages[args.transactions :]
        live = sustained(bootstrap_servers, home, rest[:live_count], args, logs, args.rate)
        easy_rate = min(args.rate, 0.5 * drained["tx_per_s"])
        easy_count = int(easy_rate * args.seconds)
        easy = sustained(
            bootstrap_servers,
            home,
            rest[live_count : live_count + easy_count],
            args,
            logs,
            easy_rate,
        )
    shutil.rmtree(home, ignore_errors=True)
    return {"drain": drained, "live": live, "easy": easy}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, default=200_000, help="drained per run")
    parser.add_argument("--rate", type=float, default=10_000, help="sustained scenario, tx/s")
    parser.add_argument("--seconds", type=float, default=10, help="sustained scenario length")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()
    live_count = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="fraudwatch-bench-kafka-") as tmp:
        root = Path(tmp)
        stream = root / "stream.jsonl"
        total = args.transactions + 2 * live_count
        simulate(SimulationConfig(transactions=total, seed=1), str(stream), "json")
        lines = transactions_only(stream, total)
        template = template_home(root)
        print(
            f"kafka benchmark: {len(lines):,} simulated transactions (canonical JSON, keyed by card "
            f"token) on a throwaway Tansu, {args.partitions} partitions, {args.workers} worker "
            f"process(es), batches up to {args.batch_size}; drain {args.transactions:,}, then "
            f"{live_count:,} at {args.rate:,.0f}/s, then {args.seconds:.0f} s at half the drain "
            f"rate; default features, 24 starter rules, SQLite persistence; {args.runs} runs",
            flush=True,
        )
        results = []
        for run in range(args.runs):
            result = one_run(lines, template, args, root, run)
            results.append(result)
            d = result["drain"]
            per_tx = ", ".join(f"{k} {t / d['decided'] * 1e6:.0f}" for k, t in d["stages"].items())
            print(
                f"  run {run + 1}: drain {d['tx_per_s']:,.0f} tx/s ({d['decided']:,} tx; "
                f"µs per tx: {per_tx})",
                flush=True,
            )
            for name in ("live", "easy"):
                v = result[name]
                print(
                    f"    live at {v['offered_tx_per_s']:,.0f}/s offered: {v['tx_per_s']:,.0f} "
                    f"tx/s decided, kept up: {v['kept_up']}, latency p50 {v['p50']:.1f} / p95 "
                    f"{v['p95']:.1f} / p99 {v['p99']:.1f} / max {v['max']:.0f} ms",
                    flush=True,
                )
        med = statistics.median
        print(
            f"median of {args.runs} runs: drain {med(r['drain']['tx_per_s'] for r in results):,.0f} tx/s"
        )
        for name in ("live", "easy"):
            rows = [r[name] for r in results]
            print(
                f"  live at {med(v['offered_tx_per_s'] for v in rows):,.0f}/s offered: "
                f"{med(v['tx_per_s'] for v in rows):,.0f} tx/s decided, kept up in "
                f"{sum(v['kept_up'] for v in rows)}/{len(rows)} runs; produced -> decision stored "
                f"and published: p50 {med(v['p50'] for v in rows):.1f} ms, p95 "
                f"{med(v['p95'] for v in rows):.1f} ms, p99 {med(v['p99'] for v in rows):.1f} ms"
            )


if __name__ == "__main__":
    main()
