"""A small demo deployment for the dashboard's end-to-end test: the demo's history, model and
live day (`fraudwatch demo --no-serve`), its users, the API serving the built dashboard, and a
bounded feeder that keeps the live feed moving."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyotp

from fraudwatch.bootstrap import Container, bootstrap
from fraudwatch.cli import demo_live
from fraudwatch.devtools.process import free_port
from fraudwatch.settings import load_settings
from fraudwatch.simulate import SimulationConfig

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "dashboard"
CHROMIUM = os.environ.get("FRAUDWATCH_CHROMIUM", "/usr/bin/chromium")
DEMO_TRANSACTIONS = 2000
DEMO_SEED = 7


def missing_tools() -> list[str]:
    """What the browser test needs and this machine lacks."""
    missing = []
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing.append("node and npm")
    if not Path(CHROMIUM).is_file():
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium)")
    if not (DASHBOARD / "node_modules" / "playwright-core").is_dir():
        missing.append("dashboard/node_modules (npm --prefix dashboard ci)")
    return missing


def build_dashboard(out: Path) -> Path:
    """The production build of the app, into `out` (not dashboard/dist: a demo may serve it)."""
    vite = DASHBOARD / "node_modules" / ".bin" / "vite"
    subprocess.run(
        [str(vite), "build", "--outDir", str(out), "--emptyOutDir", "--logLevel", "warn"],
        cwd=DASHBOARD, check=True, timeout=300,
    )  # fmt: skip
    return out


def run_demo(home: Path) -> dict[str, Any]:
    """`fraudwatch demo` without its final serving: history, champion model, a live day."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env["FRAUDWATCH_HOME"] = str(home)
    args = ["demo", "--transactions", str(DEMO_TRANSACTIONS), "--seed", str(DEMO_SEED)]
    args += ["--no-serve", "--port", str(free_port()), "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "fraudwatch.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"the demo failed:\n{done.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


class TotpCodes:
    """Answers `GET /<username>` with the user's current TOTP code: the browser script asks it
    when it logs in (codes are made here with pyotp, from the secrets enrolment returned)."""

    def __init__(self, secrets: dict[str, str]) -> None:
        totps = {name: pyotp.TOTP(secret) for name, secret in secrets.items()}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                totp = totps.get(self.path.strip("/"))
                body = (totp.now() if totp else "unknown user").encode()
                self.send_response(200 if totp else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Feeder:
    """Posts the transactions of a further simulated day to the API, a few per second, until
    stopped or done (bounded), so the live feed keeps moving while the browser watches."""

    url: str
    key: str
    transactions: list[dict[str, Any]]
    per_second: float = 6.0
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="e2e-feeder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as client:
            for tx in self.transactions:
                if self._stop.wait(1 / self.per_second):
                    return
                response = client.post("/v1/transactions/score", json=tx)
                if response.status_code != 200:
                    self.errors.append(f"{response.status_code}: {response.text[:200]}")
                self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)


def further_day(app: Container, count: int) -> list[dict[str, Any]]:
    """The day after the demo's live day, same customers, ids prefixed so none repeats."""
    config = SimulationConfig(transactions=DEMO_TRANSACTIONS, seed=DEMO_SEED)
    start = config.start + timedelta(days=config.days + 1)
    folder = app.settings.home / "e2e-feed"
    path = demo_live.live_day(folder, DEMO_SEED + 1, config.customer_count(), start, count)
    transactions, _ = demo_live.read_live(path, prefix="e2e-")
    return transactions


@dataclass
class Deployment:
    url: str
    service_key: str
    users: list[demo_live.DemoUser]
    totp_url: str
    feeder: Feeder
    app: Container


@contextmanager
def deployment(home: Path, dist: Path) -> Iterator[Deployment]:
    run_demo(home)
    app = bootstrap(load_settings(home=home))
    codes: TotpCodes | None = None
    try:
        users = demo_live.create_demo_users(app)
        demo_live.publish_starter_rules(app)
        codes = TotpCodes({u.username: u.totp_secret for u in users if u.totp_secret})
        port = free_port()
        receiver = demo_live.Receiver()
        env = {"FRAUDWATCH_DASHBOARD_DIR": str(dist)}
        with demo_live.serve(app, port, receiver.start(), env) as key:
            url = f"http://127.0.0.1:{port}"
            feeder = Feeder(url, key, further_day(app, 600))
            feeder.start()
            try:
                yield Deployment(url, key, users, codes.url, feeder, app)
            finally:
                feeder.stop()
    finally:
        if codes is not None:
            codes.close()
        app.close()
