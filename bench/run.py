"""`make bench`: every benchmark in turn, each printing what it measured, on what data, how many
runs and the median. Slow by design; never part of `make test`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = [
    ("simulator", ["bench_simulate.py", "--transactions", "1000000", "--runs", "3"]),
    ("ingestion", ["bench_ingest.py", "--transactions", "200000", "--runs", "3"]),
    ("online features", ["bench_features_online.py", "--transactions", "100000", "--runs", "3"]),
    ("online features on Redis", ["bench_features_redis.py"]),
    ("offline features", ["bench_features_offline.py", "--transactions", "200000", "--runs", "3"]),
    ("storage writes", ["bench_storage.py", "--rows", "100000", "--runs", "3", "--batch", "20000"]),
    ("SQLite key orders", ["bench_sqlite_keys.py", "--runs", "3"]),
    ("detection models", ["bench_models.py", "--transactions", "200000", "--runs", "3"]),
    ("rules", ["bench_rules.py", "--transactions", "20000", "--runs", "5"]),
    ("HTTP scoring API", ["bench_api.py", "--seconds", "15", "--runs", "3"]),
    ("HTTP scoring API, offered load", ["bench_api.py", "--load", "open", "--runs", "3"]),
    (
        "kafka transport alone",
        ["bench_broker.py", "--runs", "3", "--linger", "2", "--linger", "10"],
    ),
    ("kafka path end to end", ["bench_kafka.py", "--transactions", "200000", "--runs", "3"]),
    ("dashboard API", ["bench_dashboard.py", "--decisions", "1000000", "--runs", "3"]),
    ("case API", ["bench_cases.py"]),
]


def main() -> int:
    failed = []
    for name, command in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        result = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=False)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
