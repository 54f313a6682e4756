"""A realistic deployment for the throughput benchmarks: stored history, a champion model, and the
traffic that follows it.

The HTTP and Kafka benchmarks measure what a production scorer does, so they need what it has:
weeks of stored history (the features warm up from it, so velocity windows, novelty and
merchant risk are real, not all "first seen"), a trained champion (the model runs, reasons are
computed for the flagged few), and traffic from the same customers, cards and merchants after
the history, at the same daily rate. The simulator makes both (same seed and customers, the
traffic starting the midnight after the history ends); `fraudwatch ingest` stores the history;
the demo's `train_champion` trains, registers and promotes the model.

Preparing takes minutes, so the result is cached under `~/.cache/fraudwatch-bench/` by its
parameters: a template home (keys, SQLite store, model registry) that each run copies, and
`traffic.jsonl` (canonical transactions in time order, card numbers as issued: the API tokenises
them, the Kafka producer tokenises them with the template's key), and `history.jsonl`, the
history as simulated (what a benchmark on PostgreSQL loads into its throwaway server).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from fraudwatch.bootstrap import bootstrap
from fraudwatch.cli.demo_live import train_champion
from fraudwatch.settings import load_settings
from fraudwatch.simulate import SimulationConfig, simulate

CACHE = Path(os.environ.get("FRAUDWATCH_BENCH_CACHE", Path.home() / ".cache" / "fraudwatch-bench"))


@dataclass(frozen=True)
class Scenario:
    home: Path  # the template FRAUDWATCH_HOME: copy it, never serve it in place
    traffic: Path  # canonical transactions after the history, one JSON object per line
    transactions: int  # lines in `traffic`
    description: str
    history: Path  # the simulated history stored in the template (to load into another store)

    def lines(self, limit: int | None = None) -> list[bytes]:
        out: list[bytes] = []
        with self.traffic.open("rb") as handle:
            for line in handle:
                out.append(line.rstrip(b"\n"))
                if limit is not None and len(out) >= limit:
                    break
        return out

    def copy_home(self, to: Path) -> Path:
        shutil.copytree(self.home, to)
        return to

    def load_history(self, env: dict[str, str]) -> None:
        """Store the history in the database `env` names (FRAUDWATCH_DATABASE_URL, with the keys
        of its home), as the template's was: `fraudwatch ingest`."""
        started = time.perf_counter()
        command = [sys.executable, "-m", "fraudwatch.cli.main", "ingest", str(self.history)]
        subprocess.run([*command, "--format", "json", "--json"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        print(f"history loaded into PostgreSQL in {time.perf_counter() - started:.0f} s")


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the embedded SQLite store, or a throwaway PostgreSQL server (durable: fsync, "
        "synchronous commit) with the scenario's history loaded into it",
    )


def env_for(home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env["FRAUDWATCH_HOME"] = str(home)
    env.update({f"FRAUDWATCH_{k.upper()}": v for k, v in settings.items()})
    return env


def prepare(
    *,
    history: int = 300_000,
    days: int = 14,
    traffic: int = 600_000,
    customers: int = 15_000,
    seed: int = 7,
) -> Scenario:
    """The cached scenario for these parameters, built first when missing."""
    traffic_days = max(1, round(days * traffic / history))  # the history's daily rate
    name = f"h{history}-d{days}-t{traffic}-c{customers}-s{seed}"
    root = CACHE / name
    description = (
        f"simulator seed {seed}, {customers:,} customers: {history:,} transactions of history "
        f"over {days} days stored, a LightGBM champion trained on it, then {traffic:,} "
        f"transactions over the next {traffic_days} days"
    )
    done = root / "ready.json"
    past = SimulationConfig(transactions=history, seed=seed, customers=customers, days=days)
    history_file = root / "history.jsonl"
    if done.exists():
        info = json.loads(done.read_text())
        if not history_file.exists():  # a cache from before it was kept: the same seed again
            simulate(past, str(history_file), "json")
        if not info.get("indexed"):  # stored before loads ended with their entity index whole
            app = bootstrap(load_settings(home=root / "home"))
            try:
                app.store.maintain(finish=True)
            finally:
                app.close()
            done.write_text(json.dumps({**info, "indexed": True}))
        return Scenario(
            root / "home", root / "traffic.jsonl", info["transactions"], description, history_file
        )
    if root.exists():
        shutil.rmtree(root)
    (root / "work").mkdir(parents=True)
    started = time.perf_counter()
    say(f"preparing (once, cached in {root}): {description}")

    simulate(past, str(history_file), "json")
    home = root / "home"
    env = env_for(home)
    subprocess.run(
        [sys.executable, "-m", "fraudwatch.cli.main", "ingest", str(history_file), "--format",
         "json", "--json"],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    say(f"history stored ({time.perf_counter() - started:.0f} s); training the champion")
    app = bootstrap(load_settings(home=home))
    try:
        model = train_champion(app)
    finally:
        app.close()
    say(f"champion {model['version']} (test ROC AUC {model['roc_auc']:.3f}); simulating traffic")

    start = _next_midnight(past.start + timedelta(days=days))
    future = SimulationConfig(
        transactions=traffic, seed=seed, customers=customers, start=start, days=traffic_days
    )
    future_file = root / "work" / "future.jsonl"
    simulate(future, str(future_file), "json")
    events = []
    with future_file.open("rb") as handle:
        for line in handle:
            if b'"type":"transaction"' in line:
                event = json.loads(line)
                del event["type"]
                # The same seed numbers transactions from the same start: make them new ids.
                event["transaction_id"] = "next_" + event["transaction_id"]
                events.append((event["event_time"], json.dumps(event, separators=(",", ":"))))
    events.sort(key=lambda pair: pair[0])
    with (root / "traffic.jsonl").open("w", encoding="utf-8") as out:
        for _, line in events:
            out.write(line + "\n")
    shutil.rmtree(root / "work")
    done.write_text(json.dumps({"transactions": len(events), "model": model, "indexed": True}))
    say(f"ready in {time.perf_counter() - started:.0f} s")
    return Scenario(home, root / "traffic.jsonl", len(events), description, history_file)


def say(text: str) -> None:
    print(f"  [scenario] {text}", file=sys.stderr, flush=True)


def _next_midnight(moment: datetime) -> datetime:
    return (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


if __name__ == "__main__":
    print(prepare())
