"""The demo's second half: train on the ingested history, serve, and stream a live day at it.

`train_champion` trains on the embedded store and promotes the model to champion; `serve` starts
`fraudwatch serve` as its own process with a local webhook receiver as the alert channel;
`stream` posts the next simulated day to it as concurrent clients would, one transaction per
request, and measures what a client sees. The simulator knows which live transactions are fraud,
so the summary can say how much fraud was caught and missed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from fraudwatch.bootstrap import Container
from fraudwatch.control.repository import Role
from fraudwatch.simulate import SimulationConfig, simulate

CLIENTS = 16
#: the dashboard's demo users: (username, role); admins and analysts log in with TOTP
DEMO_USERS = (("ada", "admin"), ("alex", "analyst"), ("vic", "viewer"))


@dataclass(frozen=True)
class DemoUser:
    """A dashboard login made for the demo; `totp_secret` is what an authenticator app holds."""

    username: str
    role: str
    password: str
    totp_secret: str | None
    otpauth_uri: str | None


def create_demo_users(app: Container) -> list[DemoUser]:
    """An admin and an analyst with TOTP enrolled, and a viewer (no second factor), each with a
    fresh random password; enrolment goes through the same calls a person makes."""
    import pyotp

    from fraudwatch.users.service import UserRole, UserService

    service = UserService(app.store.engine, app.keyring)
    taken = {user["username"] for user in service.users()}
    made = []
    for name, role in DEMO_USERS:
        username = next(
            candidate
            for candidate in (name, *(f"{name}-{n}" for n in range(2, 1000)))
            if candidate not in taken  # a demo run before on this home made the plain names
        )
        password = secrets.token_urlsafe(12)
        service.create(username, UserRole(role), password, by="demo")
        secret = uri = None
        session = service.login(username, password)
        if session.mfa_required:
            uri = service.setup_totp(session.token)
            secret = pyotp.parse_uri(uri).secret
            service.confirm_totp(session.token, pyotp.TOTP(secret).now())
        service.logout(session.token)
        made.append(DemoUser(username, role, password, secret, uri))
    return made


def publish_starter_rules(app: Container) -> int:
    """Publish the built-in starter rules as the first version, so the dashboard's rule editor
    starts from the rules the scorers run (the same rules: decisions do not change)."""
    from fraudwatch.features.defaults import default_feature_set
    from fraudwatch.rules.starter import starter_rule_set
    from fraudwatch.rules.vocabulary import vocabulary

    active = app.control.active_rule_set()
    if active is not None:
        return active.version
    starter = replace(starter_rule_set(), version=app.control.next_version())
    draft = app.control.save_draft(starter, by="demo")
    words = vocabulary(default_feature_set(), set(draft.lists))
    return app.control.publish(draft.version, words, by="demo", activate=True).version


def train_champion(app: Container) -> dict[str, Any]:
    """Train on everything stored, register the model and promote it to champion."""
    from fraudwatch.cli.models import _options
    from fraudwatch.features.defaults import default_feature_set
    from fraudwatch.features.enrich.ip import default_locator
    from fraudwatch.models.backtest import Periods, fit_on_history
    from fraudwatch.models.dataset import load_store_history
    from fraudwatch.models.evaluate import evaluate
    from fraudwatch.models.registry import STAGES, ModelRegistry

    history = load_store_history(app.store, default_locator())
    options = _options(app, "lightgbm", 300, 0.0, 0, event_columns=True)
    fitted = fit_on_history(history, default_feature_set(), Periods(), options, source="store")
    directory = app.settings.resolved_models_dir / "demo-model"
    fitted.bundle.save(directory)
    scores = evaluate(fitted.bundle, fitted.evaluation)
    metrics = {name: scores[name] for name in ("roc_auc", "average_precision")}
    registry = ModelRegistry.from_settings(app.settings)
    version = registry.log_training(
        fitted.bundle, directory, {f"test_{k}": v for k, v in metrics.items()}
    )
    for stage in STAGES[1:]:
        registry.promote(version, stage)
    return {"version": version, **metrics}


@dataclass
class Receiver:
    """A local webhook endpoint standing in for the fraud team's alert channel."""

    alerts: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> str:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.alerts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/alerts"


@contextmanager
def serve(
    app: Container, port: int, alerts_url: str, env_extra: dict[str, str] | None = None
) -> Iterator[str]:
    """`fraudwatch serve` as its own process on this deployment, with the local webhook as the
    alert channel for blocks; yields a service API key."""
    _, key = app.control.create_api_key(role=Role.SERVICE, name="demo stream", by="demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env.update(
        FRAUDWATCH_HOME=str(app.settings.home.resolve()),
        FRAUDWATCH_ALERT_CHANNELS=json.dumps(
            {"fraud-team": {"type": "webhook", "url": alerts_url, "secret": secrets.token_hex(16)}}
        ),
        FRAUDWATCH_ALERT_ROUTES=json.dumps(
            [{"name": "blocks", "channels": ["fraud-team"], "outcomes": ["block"]}]
        ),
    )
    if app.settings.database_url:
        env["FRAUDWATCH_DATABASE_URL"] = app.settings.database_url
    if app.settings.dashboard_dir:
        env["FRAUDWATCH_DASHBOARD_DIR"] = str(app.settings.dashboard_dir.resolve())
    env.update(env_extra or {})
    log = (app.settings.home / "demo-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "fraudwatch.cli.main", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(1200):  # at most two minutes (the features warm up first)
            if server.poll() is not None:
                raise RuntimeError(f"the API did not start: see {log.name}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield key
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def report_stolen(app: Container, transactions: list[dict[str, Any]], fraud: set[str]) -> str:
    """Put the card of the day's first fraud on the block list (as an analyst would after the
    cardholder's call); returns its last four digits."""
    stolen = next((tx for tx in transactions if tx["transaction_id"] in fraud), transactions[0])
    card = stolen.get("card") or {}
    number = card.get("number")
    token = app.tokenizer.card_from_number(number).token if number else card.get("token")
    if token:
        app.control.add_to_list(
            "blocked_cards", [token], by="demo analyst", note="reported stolen by the cardholder"
        )
    return str(number or token or "")[-4:]


def wait_stored(app: Container, ids: list[str], timeout_s: float = 60) -> int:
    """Wait until the server has stored a decision for every id (it writes in batches)."""
    deadline = time.monotonic() + timeout_s
    stored = 0
    while time.monotonic() < deadline:
        stored = len(app.store.known_hashes("decision", ids))
        if stored == len(ids):
            break
        time.sleep(0.2)
    return stored


def live_day(folder: Path, seed: int, customers: int, start: Any, transactions: int) -> Path:
    """The day after the history, same seed and customers: canonical JSON lines."""
    out = folder / "live"
    config = SimulationConfig(
        transactions=transactions, seed=seed, customers=customers, start=start, days=1
    )
    simulate(config, str(out), "json")
    return out


def read_live(path: Path, prefix: str = "live-") -> tuple[list[dict[str, Any]], set[str]]:
    """The live transactions in time order, and which are fraud (the simulator's truth).

    Ids get `prefix`: a day simulated with the history's seed numbers its transactions as the
    history does, and a reused id would be a different payment under a stored one's name."""
    transactions, fraud = [], set()
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    for file in files:
        with file.open(encoding="utf-8") as handle:
            for line in handle:
                event = json.loads(line)
                kind = event.pop("type", "transaction")
                if kind == "transaction":
                    event["transaction_id"] = prefix + event["transaction_id"]
                    transactions.append(event)
                elif kind == "label" and event.get("is_fraud"):
                    fraud.add(prefix + event["transaction_id"])
    transactions.sort(key=lambda e: e["event_time"])
    return transactions, fraud


def read_live_labels(path: Path, prefix: str = "live-") -> list[dict[str, Any]]:
    """The live day's labels (chargebacks, analysts' findings), ids prefixed as `read_live`."""
    labels = []
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    for file in files:
        with file.open(encoding="utf-8") as handle:
            for line in handle:
                event = json.loads(line)
                if event.pop("type", None) == "label":
                    event["transaction_id"] = prefix + event["transaction_id"]
                    labels.append(event)
    return labels


def report_labels(url: str, key: str, labels: list[dict[str, Any]]) -> int:
    """Send the day's labels as the bank would once they are known; how many were accepted."""
    if not labels:
        return 0
    response = httpx.post(
        f"{url}/v1/labels",
        json={"labels": labels},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    response.raise_for_status()
    return int(response.json()["accepted"])


async def _post_all(
    url: str, key: str, transactions: list[dict[str, Any]]
) -> list[tuple[str, float, str]]:
    headers = {"Authorization": f"Bearer {key}"}
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for tx in transactions:
        queue.put_nowait(tx)
    results: list[tuple[str, float, str]] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                tx = queue.get_nowait()
                started = time.perf_counter()
                for attempt in range(3):  # scoring is idempotent: retrying is safe
                    try:
                        response = await client.post(
                            f"{url}/v1/transactions/score", json=tx, headers=headers
                        )
                        break
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                elapsed = (time.perf_counter() - started) * 1000
                outcome = (
                    response.json().get("outcome", "error")
                    if response.status_code == 200
                    else "error"
                )
                results.append((tx["transaction_id"], elapsed, outcome))

        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return results


def stream(
    url: str, key: str, transactions: list[dict[str, Any]], fraud: set[str]
) -> dict[str, Any]:
    """Post every transaction, CLIENTS at a time: what clients saw, how much fraud was caught."""
    started = time.perf_counter()
    results = asyncio.run(_post_all(url, key, transactions))
    seconds = time.perf_counter() - started
    latencies = sorted(ms for _, ms, _ in results)
    outcomes = Counter(outcome for _, _, outcome in results)
    flagged = {tid for tid, _, outcome in results if outcome in ("review", "step_up", "block")}
    blocked = {tid for tid, _, outcome in results if outcome == "block"}
    genuine_flagged = len(flagged - fraud)

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    return {
        "transactions": len(results),
        "seconds": round(seconds, 1),
        "per_second": round(len(results) / seconds) if seconds else None,
        "latency_ms": {
            "p50": pct(0.5),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "mean": round(statistics.fmean(latencies), 1),
        },
        "outcomes": dict(outcomes),
        "fraud": len(fraud),
        "fraud_caught": len(fraud & flagged),
        "fraud_blocked": len(fraud & blocked),
        "fraud_missed": len(fraud - flagged),
        "genuine_flagged": genuine_flagged,
        "false_positive_rate": round(genuine_flagged / max(1, len(results) - len(fraud)), 4),
    }


def after(history_end: Any) -> Any:
    """The live day starts at the next midnight after the history."""
    return (history_end + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
