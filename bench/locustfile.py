"""Locust load test for the scoring API: single and batch scoring with realistic traffic, plus
the reads an investigator's screen makes.

Not a dependency of fraudwatch (Locust brings gevent and Flask): install it where you run it.

    pip install locust
    export FRAUDWATCH_URL=http://127.0.0.1:8000
    export FRAUDWATCH_KEY=$(fraudwatch apikey create --role service --json | jq -r .key)
    export FRAUDWATCH_TRAFFIC=~/.cache/fraudwatch-bench/<scenario>/traffic.jsonl   # optional
    locust -f bench/locustfile.py --headless -u 64 -r 16 -t 60s --host "$FRAUDWATCH_URL"

The traffic file is canonical transactions, one JSON object per line (`bench/scenario.py`
writes one after a stored history, so the features and the model see real customers); without
it, transactions are generated (every card new, so rules about new cards fire more than in
production). Every request carries a new transaction id (a run prefix), so nothing is answered
from the idempotency cache unless you want it to be: `FRAUDWATCH_REPEAT=0.05` resends 5 % of
the transactions, as retrying clients do. `FRAUDWATCH_BATCH` (default 200) sets the batch size.

For the figures in docs/benchmarks.md we use `bench_api.py` (wrk: a C client that leaves the
CPU to the server on a 2-core machine); Locust is the tool for a user's own load tests with
think times, mixed endpoints and many users, spread over machines (`--master`/`--worker`).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task

KEY = os.environ.get("FRAUDWATCH_KEY", "")
TRAFFIC = os.environ.get("FRAUDWATCH_TRAFFIC", "")
BATCH = int(os.environ.get("FRAUDWATCH_BATCH", "200"))
REPEAT = float(os.environ.get("FRAUDWATCH_REPEAT", "0"))
RUN = uuid.uuid4().hex[:8]


def _generated() -> Iterator[dict[str, Any]]:
    for n in itertools.count():
        yield {
            "transaction_id": f"locust-{n}",
            "event_time": datetime.now(UTC).isoformat(),
            "amount": f"{random.randint(1, 900)}.{random.randint(0, 99):02d}",
            "currency": "EUR",
            "card": {"token": f"tok_{random.randint(1, 50_000):032d}"},
            "customer_id": f"c{random.randint(1, 40_000)}",
            "merchant": {"id": f"m{random.randint(1, 2000)}", "country": "NL", "mcc": "5411"},
            "channel": "ecommerce",
            "ip_address": f"81.2.69.{random.randint(1, 250)}",
        }


def _from_file(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


class Traffic:
    """One shared, thread-safe source of transactions, in time order, with run-unique ids."""

    def __init__(self) -> None:
        self._source = _from_file(Path(TRAFFIC).expanduser()) if TRAFFIC else _generated()
        self._lock = threading.Lock()
        self._sent: list[dict[str, Any]] = []

    def take(self, count: int) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for _ in range(count):
                if REPEAT and self._sent and random.random() < REPEAT:
                    out.append(random.choice(self._sent))  # a client retry: same decision back
                    continue
                tx = next(self._source)
                tx["transaction_id"] = f"{RUN}-{tx['transaction_id']}"
                out.append(tx)
                if REPEAT:
                    self._sent = [*self._sent[-9_999:], tx]
            return out


TRAFFIC_SOURCE = Traffic()


class PaymentGateway(FastHttpUser):
    """A gateway: one synchronous decision per payment, now and then a batch (settlement files)."""

    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        self.recent: list[str] = []

    @task(20)
    def score_one(self) -> None:
        (tx,) = TRAFFIC_SOURCE.take(1)
        with self.client.post(
            "/v1/transactions/score",
            data=json.dumps(tx),
            headers=self.headers,
            name="score",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            outcome = response.json().get("outcome")
            if outcome not in ("approve", "review", "step_up", "block"):
                response.failure(f"no outcome in {response.text[:200]}")
            self.recent = [*self.recent[-99:], tx["transaction_id"]]

    @task(1)
    def score_batch(self) -> None:
        body = {"transactions": TRAFFIC_SOURCE.take(BATCH)}
        with self.client.post(
            "/v1/transactions/score:batch",
            data=json.dumps(body),
            headers=self.headers,
            name=f"score:batch ({BATCH})",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif len(response.json().get("decisions", [])) != BATCH:
                response.failure("a decision is missing from the batch")

    @task(2)
    def read_decision(self) -> None:
        if self.recent:
            tid = random.choice(self.recent)
            self.client.get(
                f"/v1/decisions/{tid}", headers=self.headers, name="decision by transaction id"
            )
