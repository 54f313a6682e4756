"""`fraudwatch serve` as a separate process: a key from `fraudwatch apikey create --json`, real
HTTP on loopback, and a rule set published by another process reaching the running server
without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from fraudwatch.bootstrap import bootstrap
from fraudwatch.devtools.process import free_port
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.rules import Action, Rule, RuleSet, vocabulary
from fraudwatch.settings import load_settings
from tests.test_cli_end_to_end import as_json, fraudwatch


def _wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    for _ in range(900):  # at most 90 s (a loaded machine starts slowly)
        if process.poll() is not None:
            raise AssertionError(
                f"the server exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not become ready in 90 s")


def _children(pid: int, module: str) -> list[int]:
    """The processes whose parent is `pid` and whose command line names `module` (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        if parent == pid and module.encode() in command:
            found.append(int(entry.name))
    return found


def test_a_rule_published_elsewhere_reaches_the_running_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key = as_json(fraudwatch(home, "apikey", "create", "--role", "service", "--json"))["key"]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env.update(FRAUDWATCH_HOME=str(home), FRAUDWATCH_RULES_POLL_S="0.2")
    log = (tmp_path / "server.log").open("w")  # a file: a full pipe would stall the server
    server = subprocess.Popen(
        [sys.executable, "-m", "fraudwatch.cli.main", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server)
        # Its writer process runs at a lower priority (store_writer_nice, 19 by default).
        [writer] = _children(server.pid, "fraudwatch.scoring.writer_process")
        assert os.getpriority(os.PRIO_PROCESS, writer) == min(
            19, os.getpriority(os.PRIO_PROCESS, server.pid) + 19
        )
        headers = {"Authorization": f"Bearer {key}"}
        client = httpx.Client(timeout=30)

        def score(i: int) -> dict[str, object]:
            body = {
                "transaction_id": f"tx-{i}", "event_time": datetime.now(UTC).isoformat(),
                "amount": "777.00", "currency": "EUR", "card": {"token": "tok_" + "c" * 32},
                "merchant": {"id": "m-1", "country": "NL"},
            }  # fmt: skip
            response = client.post(f"{url}/v1/transactions/score", json=body, headers=headers)
            assert response.status_code == 200, response.text
            decision: dict[str, object] = response.json()
            return decision

        assert score(0)["outcome"] == "approve"  # the starter rules: nothing fires here
        other = bootstrap(load_settings(home=home))  # another process's view of the same store
        try:
            draft = RuleSet(1, (Rule("lucky_sevens", "amount == 777", Action.BLOCK),))
            other.control.save_draft(draft, by="analyst elsewhere")
            other.control.publish(1, vocabulary(default_feature_set()), by="analyst elsewhere")
        finally:
            other.close()
        outcome, i = None, 0
        deadline = time.monotonic() + 20
        while outcome != "block" and time.monotonic() < deadline:
            i += 1
            outcome = score(i)["outcome"]
            time.sleep(0.05)
        assert outcome == "block", "the published rule did not reach the server within 20 s"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()
