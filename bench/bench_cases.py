"""The case API with a million decisions stored: every queue query, search, a deep page, a case
and bulk actions, through `fraudwatch serve` over HTTP.

Seeds a fresh embedded deployment (SQLite) in bulk through SQLAlchemy Core: `--decisions`
decisions over the last 30 days on 100,000 cards, of which about a fifth are review, step_up or
block and join cases the way the case service groups them (one case per card and week), most
older cases resolved, a share assigned to 20 analysts. Then starts the API as its own process
and times each request (`--runs` times, after one warm-up), printing the median and the
slowest per query. A bulk action changes different cases on every run.

    .venv/bin/python bench/bench_cases.py [--decisions 1000000] [--runs 20] [--postgres]

`--postgres` runs the same on a throwaway PostgreSQL cluster (the server binaries must be
installed) instead of SQLite.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, func, insert, select

from fraudwatch.bootstrap import bootstrap
from fraudwatch.cases.service import SLA, priority
from fraudwatch.control.repository import Role
from fraudwatch.devtools.postgres import throwaway_postgres
from fraudwatch.devtools.process import free_port
from fraudwatch.settings import load_settings
from fraudwatch.storage import tables as t

CARDS = 100_000
ANALYSTS = [f"analyst-{i:02d}" for i in range(20)]
OUTCOMES = [("approve", 0.8), ("review", 0.12), ("step_up", 0.05), ("block", 0.03)]
CHUNK = 50_000


def _decisions(n: int, now: datetime, rng: random.Random) -> Iterator[dict[str, Any]]:
    start = now - timedelta(days=30)
    step = timedelta(days=30) / n
    names, weights = zip(*OUTCOMES, strict=True)
    for i in range(n):
        outcome = rng.choices(names, weights)[0]
        risk = {"approve": 0.1, "review": 0.4, "step_up": 0.7, "block": 0.92}[outcome]
        at = start + step * i
        yield {
            "transaction_id": f"t{i:08d}",
            "event_time": at,
            "decided_at": at,
            "outcome": outcome,
            "risk_score": min(1.0, risk + rng.random() * 0.08),
            "model_score": risk,
            "anomaly_score": 0.1,
            "model_version": "bench",
            "ruleset_version": "1",
            "rules_hit": ["high_amount"] if outcome != "approve" else [],
            "reasons": [],
            "latency_ms": {"total": 1.0},
            "card": rng.randrange(CARDS),
            "amount": Decimal(rng.randrange(100, 150_000)) / 100,
        }


def _seed(conn: Connection, n: int, now: datetime, rng: random.Random) -> dict[str, int]:
    """Decisions, then the cases and memberships they make; returns counts."""
    cases: dict[tuple[int, int], dict[str, Any]] = {}
    members: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    rank = {"review": 1, "step_up": 2, "block": 3}
    for row in _decisions(n, now, rng):
        card, amount = row.pop("card"), row.pop("amount")
        batch.append(row)
        if row["outcome"] != "approve":
            week = int((now - row["event_time"]).days // 7)
            case = cases.setdefault(
                (card, week),
                {"n": len(cases) + 1, "opened_at": row["event_time"], "queue": "review",
                 "max_risk": 0.0, "total": Decimal(0), "decisions": 0, "card": card, "week": week},
            )  # fmt: skip
            if rank[row["outcome"]] > rank[case["queue"]]:
                case["queue"] = row["outcome"]
            case["max_risk"] = max(case["max_risk"], row["risk_score"])
            case["total"] += amount
            case["decisions"] += 1
            members.append(
                {"case_id": case["n"], "transaction_id": row["transaction_id"],
                 "outcome": row["outcome"], "risk_score": row["risk_score"],
                 "event_time": row["event_time"], "added_at": row["event_time"]}
            )  # fmt: skip
        if len(batch) == CHUNK:
            conn.execute(insert(t.decisions), batch)
            batch.clear()
    if batch:
        conn.execute(insert(t.decisions), batch)
    rows = [_case(case, now, rng) for case in cases.values()]
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(t.cases), rows[i : i + CHUNK])
    for i in range(0, len(members), CHUNK):
        conn.execute(insert(t.case_decisions), members[i : i + CHUNK])
    return {"decisions": n, "cases": len(rows), "in_cases": len(members)}


def _case(case: dict[str, Any], now: datetime, rng: random.Random) -> dict[str, Any]:
    level = priority(case["max_risk"], case["queue"], case["total"])
    opened: datetime = case["opened_at"]
    resolved = case["week"] >= 1 and rng.random() < 0.85
    status = "resolved" if resolved else rng.choice(["open", "open", "investigating"])
    return {
        "id": case["n"],
        "case_key": f"card:tok_{case['card']:032d}",
        "status": status,
        "disposition": rng.choice(["fraud", "legitimate"]) if resolved else None,
        "priority": level,
        "queue": case["queue"],
        "assignee": rng.choice(ANALYSTS) if resolved or rng.random() < 0.5 else None,
        "max_risk": case["max_risk"],
        "total_amount": case["total"],
        "currency": "EUR",
        "decisions": case["decisions"],
        "card_token": f"tok_{case['card']:032d}",
        "customer_id": f"C{case['card']:07d}",
        "opened_at": opened,
        "updated_at": opened,
        "due_at": opened + SLA[level],
        "resolved_at": opened + timedelta(hours=2) if resolved else None,
        "resolved_by": "analyst-00 (analyst)" if resolved else None,
    }


def _timed(runs: int, call: Callable[[int], httpx.Response]) -> tuple[float, float]:
    """Median and slowest milliseconds of `runs` calls after one warm-up (run -1)."""
    call(-1).raise_for_status()
    times = []
    for run in range(runs):
        started = time.perf_counter()
        response = call(run)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--bulk", type=int, default=100, help="cases per bulk action")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = (
            stack.enter_context(throwaway_postgres(shared_buffers="256MB"))
            if args.postgres
            else None
        )
        _bench(args, url)


def _bench(args: argparse.Namespace, database_url: str | None) -> None:
    home = Path(tempfile.mkdtemp(prefix="fw-bench-cases-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env.update(FRAUDWATCH_HOME=str(home), FRAUDWATCH_WARMUP_DAYS="0")
    if database_url:
        env["FRAUDWATCH_DATABASE_URL"] = database_url
    database = "PostgreSQL" if database_url else "SQLite"
    server: subprocess.Popen[bytes] | None = None
    try:
        app = bootstrap(load_settings(home=home, warmup_days=0, database_url=database_url))
        now = datetime.now(UTC)
        started = time.perf_counter()
        with app.store.engine.begin() as conn:
            counts = _seed(conn, args.decisions, now, random.Random(7))
        if database_url:  # fresh statistics, as autovacuum would gather them soon
            with app.store.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        seeded = time.perf_counter() - started
        _, key = app.control.create_api_key(role=Role.ADMIN, name="bench", by="bench")
        with app.store.engine.connect() as conn:
            sample = conn.execute(
                select(t.cases).where(t.cases.c.status == "open").order_by(t.cases.c.id).limit(1)
            ).one()
            member = conn.execute(
                select(t.case_decisions.c.transaction_id)
                .where(t.case_decisions.c.case_id == sample.id)
                .limit(1)
            ).scalar_one()
            by_status = {
                status: int(n)
                for status, n in conn.execute(
                    select(t.cases.c.status, func.count()).group_by(t.cases.c.status)
                )
            }
        app.close()
        held = counts["in_cases"]
        print(f"seeded {counts['decisions']:,} decisions, {counts['cases']:,} cases holding "
              f"{held:,} of them ({by_status}) in {seeded:.1f} s, {database}")  # fmt: skip

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = (home / "server.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "fraudwatch.cli.main", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        for _ in range(600):
            try:
                if client.get("/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"fraudwatch serve, one process; {args.runs} runs per query after a warm-up; "
              f"milliseconds per request, client included")  # fmt: skip
        _measure(client, args.runs, args.bulk, sample, member)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(home, ignore_errors=True)


def _measure(client: httpx.Client, runs: int, bulk: int, sample: Any, member: str) -> None:
    queries = {
        "queue, no filter": {},
        "status=open": {"status": "open"},
        "status=investigating": {"status": "investigating"},
        "status=resolved": {"status": "resolved"},
        "queue=block": {"queue": "block"},
        "queue=step_up": {"queue": "step_up"},
        "priority=2": {"priority": 2},
        "assignee": {"assignee": "analyst-07"},
        "breached=true": {"breached": "true"},
        "breached=false": {"breached": "false"},
        "status=open&queue=review&priority=3": {"status": "open", "queue": "review", "priority": 3},
        "card_token": {"card_token": sample.card_token},
        "customer_id": {"customer_id": sample.customer_id},
        "transaction_id": {"transaction_id": member},
        "search q=<transaction id>": {"q": member},
        "search q=<customer id>": {"q": sample.customer_id},
        "search q=<case id>": {"q": str(sample.id)},
        "search q=<nothing matches>": {"q": "no-such-thing"},
    }
    results: list[tuple[str, float, float]] = []
    for name, params in queries.items():
        median, worst = _timed(runs, lambda _run, p=params: client.get("/v1/cases", params=p))
        results.append((f"GET /v1/cases {name}", median, worst))
    cursor = None
    for _ in range(200):  # 10,000 cases deep
        params: dict[str, Any] = {"limit": 50} | ({"after": cursor} if cursor else {})
        page = client.get("/v1/cases", params=params).json()
        cursor = page["next"]
    deep = {"limit": 50, "after": cursor}
    median, worst = _timed(runs, lambda _run: client.get("/v1/cases", params=deep))
    results.append(("GET /v1/cases page 201 (10,000 deep, cursor)", median, worst))
    median, worst = _timed(runs, lambda _run: client.get(f"/v1/cases/{sample.id}"))
    results.append(("GET /v1/cases/{id}", median, worst))
    open_ids: list[int] = []
    cursor = None
    while len(open_ids) < 6 * bulk:  # a warm-up and 5 runs, each on cases of its own
        params = {"status": "open", "limit": 200} | ({"after": cursor} if cursor else {})
        page = client.get("/v1/cases", params=params).json()
        open_ids += [c["id"] for c in page["cases"]]
        cursor = page["next"]
        if cursor is None:
            break
    pages = [open_ids[i : i + bulk] for i in range(0, len(open_ids), bulk)]
    bulk_runs = min(len(pages) - 1, 5)

    def assign(run: int) -> httpx.Response:
        body = {"ids": pages[run + 1], "action": "assign", "assignees": ANALYSTS[:3]}
        return client.post("/v1/cases:bulk", json=body)

    def resolve(run: int) -> httpx.Response:
        body = {"ids": pages[run + 1], "action": "transition", "to": "resolved",
                "disposition": "fraud"}  # fmt: skip
        return client.post("/v1/cases:bulk", json=body)

    if bulk_runs > 0:
        median, worst = _timed(bulk_runs, assign)
        results.append((f"POST /v1/cases:bulk assign {bulk} (audited)", median, worst))
        median, worst = _timed(bulk_runs, resolve)
        results.append((f"POST /v1/cases:bulk resolve {bulk} (labels written)", median, worst))
    width = max(len(name) for name, _, _ in results)
    for name, median, worst in results:
        print(f"{name:<{width}}  median {median:7.1f} ms  slowest {worst:7.1f} ms")
    slow = [name for name, median, _ in results if median > 200]
    print("every median under 200 ms" if not slow else f"over 200 ms: {', '.join(slow)}")


if __name__ == "__main__":
    main()
