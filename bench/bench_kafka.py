"""The Kafka path end to end: simulated transactions produced to a topic on a throwaway Tansu
broker, scored by `fraudwatch worker` processes (one consumer group), decisions stored in the
embedded store, then published. Per run, one set of workers goes through:

- priming: a few thousand transactions, not measured (start-up, JIT compilation of the feature
  kernels, the first rule evaluation);
- drain: N transactions produced at once; throughput = N / (time the N-th decision is stored -
  time production started), the store polled every 50 ms;
- live: the producer sends at a fixed rate (default 10,000/s for 5 s), then at half the measured
  drain rate; latency per transaction = its decision message's timestamp (produced right after
  the decision was stored) - its transaction message's timestamp (set when produced), both read
  back from the topics, not reported by the worker. "kept up": the decisions ended within 1 s of
  the traffic.

The deployment is the benchmark scenario (`scenario.py`): weeks of simulated history stored, a
LightGBM champion trained on it (so the model runs), the features warmed up from the history by
each worker at start, the full default feature set, the 24-rule starter set, persistence on
(SQLite: transactions and decisions); the traffic is what follows the history (same customers,
cards and merchants). Medians of several runs: the machine is shared, figures are noisy.

`--store postgres` stores in a throwaway PostgreSQL server instead (the scale-out deployment's
store; fsync, synchronous commit and full-page writes on), with the history loaded into it once
and each run on a fresh copy of that database (`CREATE DATABASE ... TEMPLATE`); its CPU is
reported with the rest.

    .venv/bin/python bench/bench_kafka.py --transactions 200000 --runs 3 [--store postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import confluent_kafka
import msgspec
import numpy as np
import psycopg

from fraudwatch.bootstrap import bootstrap
from fraudwatch.devtools.kafka import throwaway_tansu
from fraudwatch.devtools.postgres import throwaway_postgres
from fraudwatch.settings import load_settings
from fraudwatch.stream.kafka import KafkaProducer, ensure_topics
from fraudwatch.stream.load import Keyed, keyed, send

sys.path.insert(0, str(Path(__file__).parent))
from cpu import database_cpu_seconds, listener_cpu_seconds, tree_cpu_seconds
from scenario import add_store_option, env_for, prepare  # workers warm up on history


def start_workers(
    n: int,
    home: Path,
    bootstrap_servers: str,
    topic: str,
    decisions: str,
    args: Any,
    logs: Path,
    database: str | None,
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    workers = []
    settings = {} if database is None else {"database_url": database}
    if args.commit_interval is not None:
        settings["store_commit_interval_s"] = str(args.commit_interval)
    if args.projector == "in-workers":
        settings["dashboard_projector"] = "true"
    if args.wal_limit_mb is not None:
        settings["store_wal_limit_mb"] = str(args.wal_limit_mb)
    env = env_for(home, **settings)
    for k in range(n):
        log = logs / f"{topic}-{k}.log"
        command = [
            sys.executable, "-m", "fraudwatch.cli.main", "worker",
            "--bootstrap-servers", bootstrap_servers, "--group", f"g-{topic}",
            "--topic", topic, "--decisions-topic", decisions,
            "--dead-letter-topic", f"{topic}.dead", "--batch-size", str(args.batch_size),
            "--partitions", str(args.partitions), "--json",
        ]  # fmt: skip
        with log.open("wb") as err:
            workers.append(
                (
                    subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=err),
                    log,
                )
            )
    return workers


def wait_joined(
    workers: list[tuple[subprocess.Popen[bytes], Path]], timeout_s: float = 900
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive(workers)
        if all(b"assigned [" in log.read_bytes() for _, log in workers):
            return
        time.sleep(0.2)
    raise SystemExit("workers did not join the group in time")


def alive(workers: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Stop the benchmark at once, with the worker's log, when a worker has exited."""
    for process, log in workers:
        if process.poll() is not None:
            lines = log.read_text(errors="replace").splitlines()
            starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
            if starts:  # its innermost frames and the error (what follows is exit noise)
                rest = lines[starts[-1] + 1 :]
                end = next(
                    (i for i, line in enumerate(rest) if not line.startswith(" ")), len(rest) - 1
                )
                lines = rest[max(0, end - 12) : end + 1]
            excerpt = "\n".join(lines[-40:])
            raise SystemExit(f"a worker exited (code {process.returncode}):\n{excerpt}")


def finish(workers: list[tuple[subprocess.Popen[bytes], Path]]) -> list[dict[str, Any]]:
    """Stop the workers as an operator would (SIGTERM: finish the batch, commit, summarise)."""
    for process, _ in workers:
        process.send_signal(signal.SIGTERM)
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


class Stored:
    """Counts the decisions in the store: the home's SQLite file, read-only (polling must not
    take the workers' write locks), or the PostgreSQL database on one open connection."""

    def __init__(self, home: Path, database: str | None) -> None:
        self.home = home
        self.workers: list[tuple[subprocess.Popen[bytes], Path]] = []  # checked while waiting
        self.conn = None if database is None else psycopg.connect(database, autocommit=True)

    def count(self) -> int:
        if self.conn is not None:
            row = self.conn.execute("SELECT count(*) FROM decisions").fetchone()
            return int(row[0]) if row else 0
        # The largest rowid, not count(*): decisions are never deleted, so it is their number
        # (a new row's rowid is the largest plus one), read from the end of the table's B-tree,
        # where count(*) reads a whole index: 0.24 against 6.4 ms at 150,000 decisions, 20
        # times a second, on the cores the workers need (docs/benchmarks.md).
        uri = f"file:{self.home / 'fraudwatch.db'}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            return int(conn.execute("SELECT max(rowid) FROM decisions").fetchone()[0] or 0)

    def wait(self, count: int, timeout_s: float = 900) -> float:
        """Wait until `count` decisions are stored; returns when (epoch seconds, ~50 ms)."""
        deadline = time.monotonic() + timeout_s
        while self.count() < count:
            alive(self.workers)
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.count():,} of {count:,} decisions stored in time")
            time.sleep(0.05)
        return time.time()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def live(
    producer: KafkaProducer,
    bootstrap_servers: str,
    topic: str,
    messages: list[Keyed],
    rate: float,
    stored: Stored,
    total: int,
) -> dict[str, Any]:
    """Send at `rate` while the workers run; latency from the two topics' timestamps.
    `producer` is the one the earlier phases used: connected, its idempotent producer id held,
    as a payment system's producer is (a new one's first messages wait for both, 0.5-1 s)."""
    send(messages, producer, topic, rate=rate)
    stored.wait(total)
    time.sleep(0.5)  # the last decisions are published right after they are stored
    produced = timestamps(bootstrap_servers, topic, total, by_value=True)
    mine = {_id_of(value) for _, value in messages}
    produced = {k: v for k, v in produced.items() if k in mine}
    decided = timestamps(bootstrap_servers, f"{topic}.decisions", total, by_value=False)
    decided = {k: v for k, v in decided.items() if k in produced}
    latency = np.array([decided[k] - produced[k] for k in decided], dtype=float)
    span_s = (max(decided.values()) - min(produced.values())) / 1000
    traffic_s = max(1e-3, (max(produced.values()) - min(produced.values())) / 1000)
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {
        "decided": len(decided),
        "offered_tx_per_s": len(produced) / traffic_s,
        "tx_per_s": len(decided) / span_s,
        "kept_up": span_s - traffic_s < 1.0,
        "p50": p50, "p95": p95, "p99": p99, "max": float(latency.max()),
    }  # fmt: skip


def _id_of(value: bytes) -> bytes:
    return msgspec.json.decode(value, type=_Id).transaction_id.encode()


def drain_cpu(
    workers: list[tuple[subprocess.Popen[bytes], Path]], broker: bytes, database: str | None
) -> dict[str, float]:
    """CPU seconds so far of the worker processes, of their writer processes, of the broker, of
    PostgreSQL (when it is the store) and of this process (the load producer, and the polling of
    the store)."""
    trees = [tree_cpu_seconds(process.pid) for process, _ in workers]
    cpu = {
        "workers": sum(own for own, _ in trees),
        "writers": sum(writer for _, writer in trees),
        "broker": listener_cpu_seconds(b"tansu", broker),
        "benchmark": time.process_time(),
    }
    if database is not None:
        cpu["postgres"] = database_cpu_seconds(database)
    return cpu


def one_run(
    lines: list[bytes], template: Path, args: Any, root: Path, run: int, server: str | None
) -> dict[str, Any]:
    """One set of workers: priming (start-up, JIT compilation), drain, then live traffic."""
    home = root / f"run-{run}"
    shutil.copytree(template, home)
    database = None
    if server is not None:  # a fresh copy of the database with the history
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE run_{run} TEMPLATE history")
        database = f"{server.rsplit('/', 1)[0]}/run_{run}"
    stored = Stored(home, database)
    logs = root / f"logs-{run}"
    logs.mkdir()
    app = bootstrap(load_settings(home=home, warmup_days=0))
    tokenizer = app.tokenizer
    app.close()
    messages = [message for message, _ in keyed(lines, tokenizer)]
    prime, drain_set = messages[: args.prime], messages[args.prime : args.prime + args.transactions]
    rest = messages[args.prime + args.transactions :]
    live_count = int(args.rate * args.seconds)
    topic = "transactions"
    with throwaway_tansu() as bootstrap_servers:
        ensure_topics(
            bootstrap_servers, {topic: args.partitions, f"{topic}.decisions": args.partitions}
        )
        workers = start_workers(
            args.workers,
            home,
            bootstrap_servers,
            topic,
            f"{topic}.decisions",
            args,
            logs,
            database,
        )
        stored.workers = workers
        try:
            wait_joined(workers)
            producer = KafkaProducer(bootstrap_servers)
            send(prime, producer, topic)
            stored.wait(len(prime))
            broker = f"tcp://{bootstrap_servers}".encode()
            before = drain_cpu(workers, broker, database)
            started = time.time()
            send(drain_set, producer, topic)
            done = stored.wait(len(prime) + len(drain_set))
            after = drain_cpu(workers, broker, database)
            drained: dict[str, Any] = {
                "decided": len(drain_set),
                "tx_per_s": len(drain_set) / (done - started),
                "cpu_us": {k: 1e6 * (after[k] - before[k]) / len(drain_set) for k in after},
            }
            total = len(prime) + len(drain_set)
            results = {"drain": drained}
            fast = rest[:live_count]
            total += len(fast)
            results["live"] = live(
                producer, bootstrap_servers, topic, fast, args.rate, stored, total
            )
            easy_rate = min(args.rate, 0.5 * drained["tx_per_s"])
            easy = rest[live_count : live_count + int(easy_rate * args.seconds)]
            total += len(easy)
            results["easy"] = live(
                producer, bootstrap_servers, topic, easy, easy_rate, stored, total
            )
            producer.close()
            summaries = finish(workers)
        finally:
            stored.close()
            for process, _ in workers:
                if process.poll() is None:
                    process.kill()
    decided = sum(s["transactions"] for s in summaries)
    results["drain"]["stages"] = {
        name: took / decided for name, took in stage_totals(summaries).items()
    }
    shutil.rmtree(home, ignore_errors=True)
    if server is not None:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE run_{run}")
    return results


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
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--commit-interval",
        type=float,
        default=None,
        help="the workers' store_commit_interval_s (default: the worker's own, 0: each batch "
        "committed as it comes)",
    )
    parser.add_argument(
        "--wal-limit-mb",
        type=int,
        default=None,
        help="the workers' store_wal_limit_mb (SQLite; default: the setting's own)",
    )
    parser.add_argument(
        "--projector",
        choices=("off", "in-workers"),
        default="off",
        help="the dashboard's rollup projector: off (the worker's default: the deployment runs "
        "one, in `fraudwatch serve` or `fraudwatch projector`), or in each worker's writer "
        "process (FRAUDWATCH_DASHBOARD_PROJECTOR=true)",
    )
    parser.add_argument(
        "--prime", type=int, default=2000, help="transactions sent first, not measured"
    )
    add_store_option(parser)
    args = parser.parse_args()
    live_count = int(args.rate * args.seconds)
    scenario = prepare()
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fw-bench-kafka-")))
        server = None
        if args.store == "postgres":
            server = stack.enter_context(throwaway_postgres(shared_buffers="512MB", durable=True))
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute("CREATE DATABASE history")
            home = scenario.copy_home(root / "ingest")  # keys: the cached template's own
            scenario.load_history(env_for(home, database_url=f"{server.rsplit('/', 1)[0]}/history"))
        total = args.prime + args.transactions + 2 * live_count
        if total > scenario.transactions:
            sys.exit(f"{total:,} transactions needed, the scenario has {scenario.transactions:,}")
        # Each run starts from a fresh copy of the home. On the bus, events carry their type.
        lines = [b'{"type":"transaction",' + line[1:] for line in scenario.lines(total)]
        template = scenario.home
        store = "SQLite" if server is None else "PostgreSQL (throwaway, durable)"
        print(
            f"kafka benchmark on {scenario.description}; canonical events as JSON (type "
            f"first) keyed by card token on a throwaway Tansu, {args.partitions} partitions, "
            f"{args.workers} worker "
            f"process(es), batches up to {args.batch_size}; per run {args.prime:,} priming, "
            f"drain {args.transactions:,}, then {live_count:,} at {args.rate:,.0f}/s, then "
            f"{args.seconds:.0f} s at half the drain rate (each run on a fresh copy of the "
            f"deployment); model, default features, 24 starter rules, {store} persistence, "
            f"dashboard projector {args.projector}; "
            f"{args.runs} runs",
            flush=True,
        )
        results = []
        for run in range(args.runs):
            result = one_run(lines, template, args, root, run, server)
            results.append(result)
            d = result["drain"]
            per_tx = ", ".join(f"{k} {t * 1e6:.0f}" for k, t in d["stages"].items())
            cpu = ", ".join(f"{k} {us:.0f}" for k, us in d["cpu_us"].items())
            print(
                f"  run {run + 1}: drain {d['tx_per_s']:,.0f} tx/s ({d['decided']:,} tx; "
                f"worker µs per tx over the whole run: {per_tx}; CPU µs per tx during the "
                f"drain: {cpu})",
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
        drained = med(r["drain"]["tx_per_s"] for r in results)
        print(f"median of {args.runs} runs: drain {drained:,.0f} tx/s")
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
