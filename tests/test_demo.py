"""`make demo` end to end, small: simulate and ingest the history, train a champion, serve the
API as its own process, stream the next day at it; a card reported stolen is blocked, which
opens a case and delivers an alert to the local webhook, and the audit chain holds."""

from __future__ import annotations

from pathlib import Path

from fraudwatch.devtools.process import free_port
from tests.test_cli_end_to_end import as_json, fraudwatch


def test_the_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    args = ("demo", "--transactions", "6000", "--no-serve", "--port", str(free_port()), "--json")
    report = as_json(fraudwatch(tmp_path / "home", *args))
    live = report["live"]
    assert live["transactions"] >= 500 and live["stored"] == live["transactions"]
    assert live["outcomes"].get("error", 0) == 0
    assert live["labels_reported"] >= 1  # the day's labels, sent as the bank would
    assert live["outcomes"].get("block", 0) >= 1  # the reported card at least
    assert sum(live["cases"].values()) >= 1
    assert live["alerts_delivered"] >= 1
    assert live["audit_intact"] is True
    assert 0.0 <= live["model"]["roc_auc"] <= 1.0  # quality: tests/models (6,000 rows is little)
