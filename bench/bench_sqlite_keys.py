"""What a table's key order costs SQLite when a transaction and its decision are written per
event, alone (no fraudwatch code: plain `sqlite3`, the store's settings). Three designs:

- `random`: transactions and decisions both keyed (transaction_id, event_time), as before
  revision 0013: every row goes into two B-trees at random places;
- `decisions-by-time`: decisions keyed (event_time, transaction_id), the store since revision
  0013 (and no separate event-time index for them);
- `both-by-time`: transactions keyed by time too, no index on the id (a lookup by id would go
  through an index kept in bulk, as `entity_index` is for cards): what the store could become.
  The cost of that index's bulk runs is not in this figure.

Each run starts from a copy of a database holding `--history` transactions and their decisions
(rows of about the store's sizes: 700 and 150 bytes, random UUIDs, times in order), then writes
`--transactions` more in commits of `--commit` (with the lookup of the ids already stored that
the store makes before each write), in write-ahead-log mode with `synchronous=NORMAL`. It
reports CPU and wall time per transaction and the log written per transaction (pages written,
what a checkpoint copies again). Runs alternate between the designs; medians per design.

    .venv/bin/python bench/bench_sqlite_keys.py [--history 300000] [--transactions 40000]
        [--commit 250] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

DESIGNS = ("random", "decisions-by-time", "both-by-time")
START = 1_767_225_600.0  # 2026-01-01, UTC
WAL_LIMIT = 200 * 1024 * 1024  # the log is started over past this (the store's default: 1 GiB)

_TX_KEY = {
    "random": "PRIMARY KEY (transaction_id, event_time)",
    "decisions-by-time": "PRIMARY KEY (transaction_id, event_time)",
    "both-by-time": "PRIMARY KEY (event_time, transaction_id)",
}
_DECISION_KEY = {
    "random": "PRIMARY KEY (transaction_id, event_time)",
    "decisions-by-time": "PRIMARY KEY (event_time, transaction_id)",
    "both-by-time": "PRIMARY KEY (event_time, transaction_id)",
}


def schema(design: str) -> str:
    by_time_index = (
        "CREATE INDEX ix_decisions_event_time ON decisions (event_time);"
        if design == "random"
        else ""
    )
    tx_time_index = (
        "" if design == "both-by-time" else "CREATE INDEX ix_tx_time ON transactions (event_time);"
    )
    return f"""
    CREATE TABLE transactions (transaction_id TEXT NOT NULL, event_time TEXT NOT NULL,
        merchant TEXT, card TEXT, customer TEXT, personal BLOB, {_TX_KEY[design]});
    {tx_time_index}
    CREATE TABLE decisions (transaction_id TEXT NOT NULL, event_time TEXT NOT NULL,
        decided_at TEXT NOT NULL, outcome TEXT NOT NULL, risk_score REAL, reasons TEXT,
        {_DECISION_KEY[design]});
    {by_time_index}
    CREATE INDEX ix_decisions_outcome_time ON decisions (outcome, event_time);
    CREATE INDEX ix_decisions_decided_at ON decisions (decided_at, transaction_id);
    """


def events(n: int, first: int, rnd: random.Random) -> Iterator[tuple[str, str]]:
    for i in range(first, first + n):
        moment = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(START + i * 0.2))
        yield str(uuid.UUID(int=rnd.getrandbits(128))), f"{moment}.{i % 1_000_000:06d}"


def rows(keys: list[tuple[str, str]], rnd: random.Random) -> tuple[list[tuple], list[tuple]]:
    txs = [(tid, at, "m" * 30, "c" * 64, "u" * 20, rnd.randbytes(500)) for tid, at in keys]
    decisions = [(tid, at, at, "approve", 0.05, "[]") for tid, at in keys]
    return txs, decisions


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    return db


def build(path: Path, design: str, history: int) -> None:
    rnd = random.Random(1)
    db = connect(path)
    db.executescript(schema(design))
    keys = list(events(history, 0, rnd))
    txs, decisions = rows(keys, rnd)
    db.execute("BEGIN")
    db.executemany("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?)", txs)
    db.executemany("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)", decisions)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def one_run(base: Path, work: Path, design: str, args: argparse.Namespace) -> dict[str, float]:
    path = work / f"{design}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, path)
    rnd = random.Random(2)
    keys = list(events(args.transactions, args.history, rnd))
    txs, decisions = rows(keys, rnd)
    db = connect(path)
    wal = Path(f"{path}-wal")
    logged = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(keys), args.commit):
        ids = [tid for tid, _ in keys[start : start + args.commit]]
        db.execute("BEGIN IMMEDIATE")
        if design != "both-by-time":  # the store's check before a write (by id: by the key)
            marks = ", ".join("?" * len(ids))
            db.execute(
                f"SELECT transaction_id FROM transactions WHERE transaction_id IN ({marks})", ids
            ).fetchall()
        db.executemany(
            "INSERT OR IGNORE INTO transactions VALUES (?, ?, ?, ?, ?, ?)",
            txs[start : start + args.commit],
        )
        db.executemany(
            "INSERT OR IGNORE INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
            decisions[start : start + args.commit],
        )
        db.execute("COMMIT")
        if wal.stat().st_size > WAL_LIMIT:
            logged += wal.stat().st_size
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    logged += wal.stat().st_size
    db.close()
    n = len(keys)
    return {"cpu_us": cpu / n * 1e6, "wall_us": wall / n * 1e6, "log_kb": logged / n / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=300_000)
    parser.add_argument("--transactions", type=int, default=40_000)
    parser.add_argument("--commit", type=int, default=250, help="transactions per commit")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"SQLite {sqlite3.sqlite_version}, alone: {args.history:,} transactions and decisions "
        f"stored, then {args.transactions:,} more written in commits of {args.commit:,} "
        f"(WAL, synchronous=NORMAL); {args.runs} runs per design, alternated",
        flush=True,
    )
    results: dict[str, list[dict[str, float]]] = {design: [] for design in DESIGNS}
    with tempfile.TemporaryDirectory(prefix="fw-keys-") as tmp:
        work = Path(tmp)
        bases = {}
        for design in DESIGNS:
            bases[design] = work / f"base-{design}.db"
            build(bases[design], design, args.history)
        for run in range(1, args.runs + 1):
            for design in DESIGNS:
                got = one_run(bases[design], work, design, args)
                results[design].append(got)
                print(
                    f"  run {run} {design:18s} CPU {got['cpu_us']:5.1f} µs, wall "
                    f"{got['wall_us']:5.1f} µs, log {got['log_kb']:5.2f} KB per transaction",
                    flush=True,
                )
            os.sync()
    print(f"median of {args.runs} runs:")
    for design in DESIGNS:
        runs = results[design]
        cpu, wall, log = (
            statistics.median(r[k] for r in runs) for k in ("cpu_us", "wall_us", "log_kb")
        )
        print(
            f"  {design:18s} CPU {cpu:5.1f} µs, wall {wall:5.1f} µs, log {log:5.2f} KB "
            "per transaction and its decision"
        )


if __name__ == "__main__":
    main()
