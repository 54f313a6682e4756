"""The dashboard API with a million decisions stored: every endpoint, through `fraudwatch serve`
over HTTP.

Seeds a fresh embedded deployment (SQLite) in bulk (SQLAlchemy Core executemany on the driver,
values encoded as the store's batch writer encodes them): `--decisions` decisions and their
transactions over the last 30 days (40 merchants in 12 countries, 20,000 cards, four channels,
outcomes about 90 / 6 / 2 / 2 % approve / review / step_up / block) and labels for about 0.5 %
of them (mostly the flagged ones, four fraud scenarios). Starts the API as its own process,
times how long its projector takes to build the rollups from scratch, then times each request
(`--runs` times after one warm-up) and prints the median and the slowest per request.

    .venv/bin/python bench/bench_dashboard.py [--decisions 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection

from fraudwatch.bootstrap import bootstrap
from fraudwatch.control.repository import Role
from fraudwatch.devtools.process import free_port
from fraudwatch.settings import load_settings
from fraudwatch.storage.types import sqlite_time

CHUNK = 50_000
COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "GB", "US", "PL", "SE", "BR", "NG", "SG"]
MCCS = ["5411", "5999", "4829", "5812", "5732", "7995", "5311", "4111"]
CHANNELS = ["ecommerce", "card_present", "wallet", "atm"]
OUTCOMES = (("approve", 0.90), ("review", 0.06), ("step_up", 0.02), ("block", 0.02))
RULES = ["high_amount", "velocity_1h", "new_device", "country_mismatch", "night_wallet"]
SCENARIOS = ["card_testing", "account_takeover", "stolen_card", "friendly_fraud"]
TX_SQL = (
    "INSERT INTO transactions (transaction_id, event_time, amount, currency, source, card_token,"
    " card_bin, card_last4, customer_id, merchant_id, merchant_name, merchant_mcc,"
    " merchant_country, channel, billing_country, ingested_at)"
    " VALUES (?, ?, ?, 'EUR', 'bench', ?, '411111', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
DECISION_SQL = (
    "INSERT INTO decisions (transaction_id, event_time, decided_at, outcome, risk_score,"
    " model_score, anomaly_score, model_version, ruleset_version, rules_hit, reasons, latency_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, 0.1, 'fraudwatch-risk/1', '1', ?, ?, ?)"
)
LABEL_SQL = (
    "INSERT INTO labels (transaction_id, source, is_fraud, fraud_type, event_time, known_at,"
    " ingested_at) VALUES (?, 'chargeback', ?, ?, ?, ?, ?)"
)


def _rows(n: int, now: datetime, rng: random.Random) -> Iterator[tuple[tuple[Any, ...], ...]]:
    """(transaction, decision, label or None) per decision, oldest first."""
    start = now - timedelta(days=30)
    step = timedelta(days=30) / n
    names, weights = zip(*OUTCOMES, strict=True)
    merchants = [(f"m-{i:03d}", f"Merchant {i:03d}", rng.choice(MCCS), COUNTRIES[i % 12])
                 for i in range(40)]  # fmt: skip
    stamp = sqlite_time(now)
    for i in range(n):
        outcome = rng.choices(names, weights)[0]
        base = {"approve": 0.05, "review": 0.35, "step_up": 0.65, "block": 0.9}[outcome]
        risk = min(1.0, base + rng.random() * 0.1)
        at = sqlite_time(start + step * i)
        card = rng.randrange(20_000)
        merchant = merchants[rng.randrange(40)]
        tid = f"t{i:08d}"
        fired = [r for r in RULES if rng.random() < (0.3 if outcome != "approve" else 0.01)]
        tx = (
            tid, at, f"{rng.randrange(100, 150_000) / 100:.2f}", f"tok_{card:032d}",
            f"{card % 10_000:04d}", f"cust-{card // 4}", *merchant, rng.choice(CHANNELS),
            rng.choice(COUNTRIES), stamp,
        )  # fmt: skip
        decision = (
            tid, at, at, outcome, risk, risk,
            json.dumps({"fired": fired, "shadow": ["shadow_probe"] if i % 50 == 0 else []}),
            json.dumps({"reasons": ["amount"], "late": False}),
            json.dumps({"features": 0.3, "total": round(rng.lognormvariate(0.5, 0.5), 3)}),
        )  # fmt: skip
        flagged = outcome != "approve"
        label = None
        if rng.random() < (0.04 if flagged else 0.0015):
            fraud = rng.random() < (0.8 if flagged else 0.6)
            known = sqlite_time(start + step * i + timedelta(days=rng.randrange(1, 20)))
            label = (tid, fraud, rng.choice(SCENARIOS) if fraud else None, at, known, known)
        yield tx, decision, label


def _seed(conn: Connection, n: int, now: datetime) -> int:
    rng = random.Random(7)
    txs: list[tuple[Any, ...]] = []
    decisions: list[tuple[Any, ...]] = []
    labels: list[tuple[Any, ...]] = []
    labelled = 0

    def flush() -> None:
        if not txs:
            return
        conn.exec_driver_sql(TX_SQL, txs)
        conn.exec_driver_sql(DECISION_SQL, decisions)
        if labels:
            conn.exec_driver_sql(LABEL_SQL, labels)
        txs.clear(), decisions.clear(), labels.clear()

    for tx, decision, label in _rows(n, now, rng):
        txs.append(tx)
        decisions.append(decision)
        if label is not None:
            labels.append(label)
            labelled += 1
        if len(txs) == CHUNK:
            flush()
    flush()
    return labelled


def _time(client: httpx.Client, method: str, path: str, runs: int, **kw: Any) -> list[float]:
    answer = client.request(method, path, **kw)  # warm-up
    answer.raise_for_status()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.request(method, path, **kw).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fraudwatch-bench-dashboard-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env.update(FRAUDWATCH_HOME=str(home), FRAUDWATCH_WARMUP_DAYS="0")
    server: subprocess.Popen[bytes] | None = None
    try:
        app = bootstrap(load_settings(home=home, warmup_days=0))
        now = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        with app.store.engine.begin() as conn:
            labelled = _seed(conn, args.decisions, now)
        seeded_s = time.perf_counter() - started
        _, key = app.control.create_api_key(role=Role.ANALYST, name="bench", by="bench")
        app.close()
        print(f"seeded {args.decisions:,} decisions + transactions and {labelled:,} labels "
              f"in {seeded_s:.1f} s")  # fmt: skip
        log = (home / "server.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "fraudwatch.cli.main", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600)
        _wait_ready(client, server)
        started = time.perf_counter()
        while _projected(client) < args.decisions:
            time.sleep(0.5)
        print(f"projector built the rollups of {args.decisions:,} decisions in "
              f"{time.perf_counter() - started:.1f} s (from the server being ready)")  # fmt: skip
        _report(client, args.runs)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(home, ignore_errors=True)
    return 0


def _wait_ready(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    for _ in range(1200):
        if server.poll() is not None:
            raise SystemExit("the server exited; see its log")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become ready in 120 s")


def _projected(client: httpx.Client) -> int:
    """Decisions in the rollups so far (all time)."""
    answer = client.get("/v1/analytics/summary?since=2000-01-01T00:00:00Z")
    count: int = answer.json()["decisions"]
    return count


def _report(client: httpx.Client, runs: int) -> None:
    first = client.get("/v1/decisions?limit=50").json()
    newest = first["items"][0]
    deep = first["next"]
    for _ in range(19):
        deep = client.get(f"/v1/decisions?limit=50&after={deep}").json()["next"]
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/decisions?limit=50", {}),
        ("GET", f"/v1/decisions?limit=50&after={deep}", {}),
        ("GET", "/v1/decisions?outcome=block&outcome=review&limit=50", {}),
        ("GET", "/v1/decisions?min_score=0.95&limit=50", {}),
        ("GET", "/v1/decisions?min_amount=1000&max_amount=1100&limit=50", {}),
        ("GET", "/v1/decisions?country=SG&channel=atm&limit=50", {}),
        ("GET", "/v1/decisions?merchant=Merchant%2001&limit=50", {}),
        ("GET", "/v1/decisions?scenario=card_testing&limit=50", {}),
        ("GET", f"/v1/decisions/{newest['transaction_id']}/detail", {}),
        ("GET", f"/v1/timeline?card_token={newest['card_token']}", {}),
        ("GET", f"/v1/timeline?customer_id={newest['customer_id']}", {}),
        ("GET", f"/v1/logins?customer_id={newest['customer_id']}", {}),
        ("GET", "/v1/analytics/summary", {}),
        ("GET", "/v1/analytics/summary?since=2000-01-01T00:00:00Z", {}),
        ("GET", "/v1/analytics/geo", {}),
        ("GET", "/v1/analytics/geo?by=customer", {}),
        ("GET", "/v1/analytics/trends?bucket=hour", {}),
        ("GET", "/v1/analytics/trends?bucket=day&since=2000-01-01T00:00:00Z", {}),
        *[
            ("GET", f"/v1/analytics/breakdown?by={by}", {})
            for by in ("mcc", "country", "channel", "scenario", "outcome")
        ],
        ("GET", "/v1/analytics/model-performance?bucket=day&since=2000-01-01T00:00:00Z", {}),
        ("GET", "/v1/analytics/scores?bins=20", {}),
        ("GET", "/v1/analytics/rules", {}),
        ("GET", "/v1/models", {}),
    ]
    end = datetime.fromisoformat(newest["event_time"])
    hour = {"since": (end - timedelta(hours=1)).isoformat(), "until": end.isoformat()}
    body = {"rules": [{"name": "big", "condition": "amount > 1000", "action": "block"}], **hour}
    requests.append(("POST", "/v1/rules/backtest", {"json": body}))
    print(f"{'request':<78} {'median ms':>10} {'max ms':>8}")
    for method, path, kw in requests:
        times = _time(client, method, path, runs, **kw)
        label = f"{method} {path}" if len(path) < 70 else f"{method} {path[:66]}..."
        print(f"{label:<78} {statistics.median(times):>10.1f} {max(times):>8.1f}")
    print(f"({runs} runs each after one warm-up; wall time per request over loopback HTTP; "
          "the backtest covers the newest hour of decisions)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
