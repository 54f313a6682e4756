"""Bulk write throughput of the event store, SQLite and PostgreSQL, with encryption on.

Writes N synthetic transactions (every one with five encrypted personal fields, a device, a
merchant and attributes) in batches of the default ingest size, each run into a fresh database,
and prints rows/s per run and the median. Also measures AES-256-GCM per field and the row encoding
(encryption included) alone, to show where the time goes.

    .venv/bin/python bench/bench_storage.py [--rows 100000] [--runs 3] [--postgres-url URL]

Without --postgres-url a throwaway PostgreSQL cluster is started (fsync off, as in the tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from fraudwatch.devtools.postgres import throwaway_postgres
from fraudwatch.events.model import Card, Channel, Device, Merchant, Transaction, content_hash
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import EventStore, WriteBatch, open_store
from fraudwatch.storage.codec import POSTGRES_VALUES, SQLITE_VALUES, RowEncoder

KEYRING = KeyRing({"k1": os.urandom(32)}, "k1")


def synthetic_transactions(count: int, seed: int = 7) -> list[Transaction]:
    """Transactions over 2018-2019 (24 monthly partitions on PostgreSQL), in time order with
    sequential ids, as a bank export or a public dataset comes."""
    rng = random.Random(seed)
    start = datetime(2018, 1, 1, tzinfo=UTC)
    span = 730 * 86_400
    offsets = sorted(rng.randrange(span) for _ in range(count))
    result = []
    for i, offset in enumerate(offsets):
        customer = rng.randrange(20_000)
        result.append(
            Transaction(
                transaction_id=f"tx-{i:09d}",
                event_time=start + timedelta(seconds=offset),
                amount=Decimal(rng.randrange(100, 500_000)) / 100,
                currency="EUR",
                source="bench-bank",
                card=Card(
                    token=f"tok_{customer:032x}", bin="411111", last4=f"{customer % 10_000:04d}"
                ),
                customer_id=f"C{customer:07d}",
                account_id=f"A{customer:07d}",
                customer_name=f"Customer {customer}",
                customer_email=f"customer{customer}@example.org",
                customer_phone=f"+49 30 {customer:07d}",
                merchant=Merchant(
                    id=f"M{rng.randrange(2_000):05d}",
                    name="Some Shop GmbH",
                    mcc="5411",
                    country="DE",
                    city="Berlin",
                    latitude=52.52,
                    longitude=13.40,
                ),
                channel=Channel.ECOMMERCE,
                device=Device(
                    id=f"D{customer:07d}",
                    type="mobile",
                    os="Android",
                    fingerprint=f"fp{customer:x}",
                ),
                ip_address=f"10.{customer % 256}.{rng.randrange(256)}.{rng.randrange(256)}",
                billing_country="DE",
                attributes={
                    "session_seconds": rng.randrange(600),
                    "new_device": rng.random() < 0.1,
                },
            )
        )
    return result


def batches(transactions: list[Transaction], size: int) -> list[WriteBatch]:
    pairs = [(tx, content_hash(tx)) for tx in transactions]
    return [
        WriteBatch(transactions=pairs[i : i + size], checkpoints={"bench": str(i)})
        for i in range(0, len(pairs), size)
    ]


@contextmanager
def sqlite_databases() -> Iterator[Callable[[], str]]:
    with tempfile.TemporaryDirectory(prefix="fw-bench-") as folder:
        yield lambda: f"sqlite:///{Path(folder) / uuid.uuid4().hex}.db"


@contextmanager
def postgres_databases(server_url: str) -> Iterator[Callable[[], str]]:
    created: list[str] = []
    admin = make_url(server_url).set(drivername="postgresql")

    def fresh() -> str:
        name = f"fw_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        created.append(name)
        return admin.set(database=name).render_as_string(hide_password=False)

    try:
        yield fresh
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            for name in created:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def _timed_writes(store: EventStore, data: list[WriteBatch]) -> float:
    started = time.perf_counter()
    for batch in data:
        store.write(batch)
    return time.perf_counter() - started


def measure_store(
    fresh_url: Callable[[], str], data: list[WriteBatch], rows: int, runs: int
) -> tuple[list[float], list[float]]:
    """Rows/s of writing everything into a fresh database, then of replaying it (all duplicates)."""
    rates, replays = [], []
    for _ in range(runs):
        with open_store(fresh_url(), KEYRING) as store:
            store.migrate()
            rates.append(rows / _timed_writes(store, data))
            replays.append(rows / _timed_writes(store, data))
            assert store.summary().transactions == rows
    return rates, replays


def measure_encryption(calls: int = 200_000) -> float:
    associated = b"transactions:tx-000000001:customer_email"
    started = time.perf_counter()
    for _ in range(calls):
        KEYRING.encrypt("customer12345@example.org", associated)
    return (time.perf_counter() - started) / calls * 1e6


def measure_encoding(transactions: list[Transaction], style_name: str) -> float:
    style = SQLITE_VALUES if style_name == "sqlite" else POSTGRES_VALUES
    encoder = RowEncoder(KEYRING, style)
    started = time.perf_counter()
    for tx in transactions:
        encoder.transaction(tx, style.time(tx.event_time), None)
    return (time.perf_counter() - started) / len(transactions) * 1e6


def report(name: str, measured: tuple[list[float], list[float]]) -> None:
    for what, rates in zip(("write", "replay"), measured, strict=True):
        runs = ", ".join(f"{rate:,.0f}" for rate in rates)
        label = f"{name} {what}"
        print(f"{label:<18} median {statistics.median(rates):>9,.0f} rows/s   runs: {runs}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres-url", help="an existing server (needs CREATEDB)")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average before: {load}"
    )
    print(
        f"data: {args.rows:,} synthetic transactions over 24 months in time order, 5 encrypted "
        f"personal fields each, batches of {args.batch:,} (+1 checkpoint), "
        f"{args.runs} runs into fresh databases"
    )
    transactions = synthetic_transactions(args.rows)
    data = batches(transactions, args.batch)
    print(f"AES-256-GCM per field:        {measure_encryption():.2f} us")
    for style in ("sqlite", "postgres"):
        print(f"row encoding ({style:<8}):     {measure_encoding(transactions, style):.2f} us/row")

    with sqlite_databases() as fresh:
        report("sqlite", measure_store(fresh, data, args.rows, args.runs))
    if args.skip_postgres:
        return
    with ExitStack() as stack:
        server = args.postgres_url or stack.enter_context(
            throwaway_postgres(shared_buffers="128MB")
        )
        where = "given server" if args.postgres_url else "throwaway cluster, fsync off"
        with postgres_databases(server) as fresh:
            report("postgresql", measure_store(fresh, data, args.rows, args.runs))
        print(f"postgresql: {where}")


if __name__ == "__main__":
    main()
