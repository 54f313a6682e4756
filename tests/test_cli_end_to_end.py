"""The way a user works: simulate, ingest, query — through the `fraudwatch` command itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def fraudwatch(
    home: Path,
    *args: str,
    stdin: str | None = None,
    check: bool = True,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env["FRAUDWATCH_HOME"] = str(home)
    env.update(env_extra or {})
    result = subprocess.run(
        [sys.executable, "-m", "fraudwatch.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=240,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"fraudwatch {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"--json must print one object, got: {result.stdout!r}"
    payload: dict[str, Any] = json.loads(lines[0])
    return payload


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


def test_simulate_ingest_query(workspace: Path) -> None:
    home = workspace / "home"
    events = workspace / "stream.jsonl"
    simulated = as_json(
        fraudwatch(
            home,
            "simulate",
            "--transactions",
            "3000",
            "--seed",
            "11",
            "--out",
            str(events),
            "--json",
        )
    )
    assert simulated["transactions"] == 3000

    first = as_json(fraudwatch(home, "ingest", "--format", "json", str(events), "--json"))
    assert set(first) >= {"read", "accepted", "duplicates", "dead_lettered", "by_reason"}
    assert first["read"] == first["accepted"] + first["duplicates"] + first["dead_lettered"]
    assert first["dead_lettered"] == 0
    assert first["events"]["transaction"] == 3000

    again = as_json(fraudwatch(home, "ingest", "--format", "json", str(events), "--json"))
    assert (
        again["duplicates"] == first["read"]
        and again["accepted"] == 0
        and again["dead_lettered"] == 0
    )

    summary = as_json(fraudwatch(home, "summary", "--json"))
    assert summary["transactions"] == 3000
    assert summary["fraud_labels"] == simulated["fraud_labels"]

    line = next(json.loads(x) for x in events.read_text().splitlines() if '"transaction"' in x)
    shown = as_json(fraudwatch(home, "transactions", "show", line["transaction_id"], "--json"))
    card = shown["transaction"]["card"]
    assert "number" not in card and card["last4"] == line["card"]["number"][-4:]
    assert line["card"]["number"] not in json.dumps(shown)

    if line.get("customer_id"):
        found = as_json(
            fraudwatch(
                home,
                "transactions",
                "find",
                "--customer",
                line["customer_id"],
                "--limit",
                "10000",
                "--json",
            )
        )
        assert line["transaction_id"] in {tx["transaction_id"] for tx in found["transactions"]}


def test_bad_records_are_dead_lettered_and_exported(workspace: Path) -> None:
    home = workspace / "home-bad"
    feed = "\n".join(
        [
            '{"transaction_id":"ok","event_time":"2026-01-01T00:00:00Z","amount":"1","currency":"EUR"}',
            '{"transaction_id":"x1","event_time":"2026-01-01T00:00:00Z","currency":"EUR"}',
            '{"transaction_id":"x2","event_time":"2026-01-01T00:00:00Z","amount":"1","currency":"ZZZ"}',
            "not json at all",
            '{"transaction_id":"x3","event_time":"2026-01-01","amount":"1","currency":"EUR",'
            '"card":{"number":"4111111111111111"}}',
        ]
    )
    report = as_json(
        fraudwatch(
            home, "ingest", "-f", "json", "-", "--source", "stdin-bank", "--json", stdin=feed
        )
    )
    assert (report["read"], report["accepted"], report["dead_lettered"]) == (5, 1, 4)
    assert report["by_reason"] == {
        "bad_time": 1,
        "missing_field": 1,
        "unknown_currency": 1,
        "unparseable": 1,
    }

    listed = as_json(fraudwatch(home, "deadletters", "list", "--reason", "missing_field", "--json"))
    (letter,) = listed["dead_letters"]
    assert (
        letter["field"] == "amount" and letter["position"] == 2 and letter["source"] == "stdin-bank"
    )

    out = workspace / "refused.jsonl"
    exported = as_json(fraudwatch(home, "deadletters", "export", "--out", str(out), "--json"))
    assert exported["exported"] == 4 and len(out.read_text().splitlines()) == 4
    assert "4111111111111111" not in out.read_text() and "411111******1111" in out.read_text()
    fraudwatch(home, "deadletters", "export", "--out", str(out), "--unmask")
    assert "4111111111111111" in out.read_text()


def test_errors_are_messages_not_tracebacks(workspace: Path) -> None:
    result = fraudwatch(workspace / "h", "ingest", "-f", "nope", "x.csv", check=False)
    assert result.returncode == 2
    assert "unknown format 'nope'" in result.stderr and "Traceback" not in result.stderr
    missing = fraudwatch(
        workspace / "h", "ingest", "-f", "sparkov", str(workspace / "none.csv"), check=False
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["simulate"],
        ["ingest"],
        ["formats"],
        ["demo"],
        ["summary"],
        ["deadletters", "list"],
        ["deadletters", "export"],
        ["transactions", "show"],
        ["transactions", "find"],
        ["db", "upgrade"],
        ["features", "list"],
        ["features", "build"],
        ["features", "parity"],
        ["rules", "check"],
        ["rules", "backtest"],
        ["serve"],
        ["apikey", "create"],
        ["apikey", "list"],
        ["apikey", "revoke"],
        ["audit", "verify"],
        ["audit", "list"],
        ["users", "create"],
        ["users", "list"],
        ["users", "disable"],
    ],
)
def test_every_command_has_help(workspace: Path, command: list[str]) -> None:
    result = fraudwatch(workspace / "h", *command, "--help")
    assert "Usage" in result.stdout


def test_settings_reach_the_formats(workspace: Path) -> None:
    """A log type defined in settings (environment) is usable by name, like a built-in one."""
    log = workspace / "custom.log"
    log.write_text("2026-01-05T10:00:00Z pay id=abc amt=12.50 cur=EUR\nnonsense\n")
    pattern = (
        r"(?P<event_time>\S+) pay id=(?P<transaction_id>\S+) "
        r"amt=(?P<amount>\S+) cur=(?P<currency>\S+)"
    )
    env = {"FRAUDWATCH_LOG_PATTERNS": json.dumps({"mine": pattern})}
    args = ("ingest", "-f", "applog", "-o", "log_type=mine", str(log), "--json")
    report = as_json(fraudwatch(workspace / "h-log", *args, env_extra=env))
    assert (report["accepted"], report["dead_lettered"]) == (1, 1)
    assert report["by_reason"] == {"unparseable": 1}
