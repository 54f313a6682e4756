"""`fraudwatch rules check|backtest`, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli_end_to_end import as_json, fraudwatch

RULES = """
lists: [blocked_cards]
rules:
  - {name: everything, condition: "true", action: tag}
  - {name: nothing, condition: "false", action: block}
  - {name: big, condition: "amount > 300", action: review, weight: 10}
  - {name: big_shadow, condition: "amount > 300", action: block, shadow: true}
  - {name: listed, condition: "card_token in blocked_cards", action: block}
"""


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rules-cli")
    path = folder / "stream.jsonl"
    fraudwatch(
        folder / "h", "simulate", "--transactions", "3000", "--seed", "6", "--out", str(path)
    )
    return path


def test_check_lists_each_invalid_rule(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(RULES)
    assert as_json(fraudwatch(tmp_path, "rules", "check", str(good), "--json")) == {
        "valid": True,
        "problems": {},
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES + "  - {name: evil, condition: \"__import__('os')\", action: block}\n")
    result = fraudwatch(tmp_path, "rules", "check", str(bad), "--json", check=False)
    assert result.returncode == 1
    assert "calling '__import__' is not allowed" in as_json(result)["problems"]["evil"]


def test_backtest_reports_hits_precision_and_recall(stream: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    args = ("rules", "backtest", "-f", "json", str(stream), "--rules", str(rules), "--json")
    report = as_json(fraudwatch(tmp_path, *args))
    n, frauds = report["transactions"], report["frauds"]
    assert n == 3000 and 0 < frauds < 100
    by_name = {r["name"]: r for r in report["rules"]}
    everything = by_name["everything"]
    assert everything["hits"] == n and everything["recall"] == 1.0
    assert everything["precision"] == pytest.approx(frauds / n)
    assert by_name["nothing"]["hits"] == 0 and by_name["nothing"]["precision"] is None
    assert by_name["big"]["hits"] == by_name["big_shadow"]["hits"] > 0
    assert by_name["listed"]["hits"] == 0  # lists start empty
    # shadow rules never act: `big` reviews, everything else is only tagged
    actions = report["actions"]
    assert actions["block"]["transactions"] == 0
    assert actions["review"]["transactions"] == by_name["big"]["hits"]
    assert actions["tag"]["transactions"] == n - by_name["big"]["hits"]
