"""`fraudwatch train`, `evaluate`, `models` and `backtest`, driven the way a user does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fraudwatch.cli.main import app
from fraudwatch.errors import FraudwatchError
from tests.models.layouts import LAYOUTS, write_layout


def run(monkeypatch: pytest.MonkeyPatch, home: Path, *args: str) -> Any:
    """In-process (one import of the ML stack for the whole module), as `fraudwatch ...`."""
    monkeypatch.setenv("FRAUDWATCH_HOME", str(home))
    return CliRunner().invoke(app, list(args))


def as_json(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"--json must print one object, got {result.stdout!r}"
    payload: dict[str, Any] = json.loads(lines[0])
    return payload


def test_train_evaluate_report_and_registry(
    simulated_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    trained = as_json(
        run(monkeypatch, home, "train", "-f", "parquet", str(simulated_dir), "--trees", "40",
            "--json")
    )  # fmt: skip
    assert trained["registered_version"] == 1
    assert trained["train_frauds"] > 0 and trained["test_rows"] > 0
    assert trained["split"]["test_start"] > trained["split"]["train_end"]

    html = tmp_path / "report.html"
    report = as_json(run(monkeypatch, home, "evaluate", "--json", "--html", str(html)))
    assert report["frauds"] > 0
    for key in ("roc_auc", "average_precision", "card_precision_at_100", "recall_at_1pct_fpr"):
        assert report[key] is not None
    assert report["recall_by_scenario"]  # simulated data names its scenarios
    assert report["drift"]["score"] >= 0 and report["fairness"]["attributes"]
    page = html.read_text()
    for section in ("ROC", "Reasons", "SHAP", "LIME", "Fairness", "Drift"):
        assert section in page
    assert page.count("data:image/png") >= 3

    table = run(monkeypatch, home, "evaluate").stdout
    assert "card precision@100" in table and "recall per fraud scenario" in table

    assert run(monkeypatch, home, "models", "promote", "1", "shadow").exit_code == 0
    listed = as_json(run(monkeypatch, home, "models", "list", "--json"))
    assert [(v["version"], v["stage"]) for v in listed["versions"]] == [(1, "shadow")]
    by_stage = as_json(run(monkeypatch, home, "evaluate", "--stage", "shadow", "--json"))
    assert by_stage["roc_auc"] == report["roc_auc"]

    refused = run(monkeypatch, home, "models", "promote", "1", "champion")
    assert isinstance(refused.exception, FraudwatchError)  # main() prints it, exits 2
    assert refused.exception.code == "bad_promotion" and "challenger" in refused.exception.message


def _backtest(monkeypatch: pytest.MonkeyPatch, home: Path, *args: str) -> dict[str, Any]:
    monkeypatch.setenv("FRAUDWATCH_HOME", str(home))
    result = CliRunner().invoke(app, ["backtest", *args, "--trees", "30", "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def test_backtest_on_simulated_history_reports_scenarios(
    simulated_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _backtest(
        monkeypatch,
        tmp_path,
        "--dataset", str(simulated_dir), "--format", "parquet", "--train-start", "2026-01-05",
        "--train-days", "18", "--delay-days", "4", "--test-days", "8",
    )  # fmt: skip
    assert report["split"]["train_end"].startswith("2026-01-23")
    assert report["split"]["test_start"].startswith("2026-01-27")
    assert 0.5 < report["roc_auc"] <= 1 and 0 < report["average_precision"] <= 1
    assert 0 <= report["card_precision_at_100"] <= 1
    scenarios = report["recall_by_scenario"]
    assert len(scenarios) >= 3 and "stolen_card_spree" in scenarios
    assert all(0 <= s["recall"] <= 1 and s["frauds"] > 0 for s in scenarios.values())
    stages = ("load", "features", "train", "score_and_evaluate", "total")
    assert set(report["seconds"]) == set(report["cpu_seconds"]) == set(stages)
    assert all(report["cpu_seconds"][s] >= 0 for s in stages)
    assert report["cpu_seconds"]["total"] >= report["cpu_seconds"]["train"] > 0
    assert report["operating_point"]["rule"] in ("validation", "configured") or report[
        "operating_point"
    ]["rule"].startswith("fallback")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_backtest_runs_on_every_public_layout(
    layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_layout(layout, tmp_path)
    options = ["-o", "start=2024-01-01T00:00:00Z"] if layout in ("ulb", "paysim") else []
    if layout == "ieee-cis":
        options = ["-o", "start=2024-01-01T00:00:00Z", "-o", "identity=none"]
    report = _backtest(
        monkeypatch,
        tmp_path / "home",
        "--dataset", str(path), "--format", layout, *options, "--train-start", "2024-01-01",
        "--train-days", "12", "--delay-days", "2", "--test-days", "6",
    )  # fmt: skip
    assert report["transactions_read"] == 3000
    assert report["frauds"] > 0
    # frauds pay more in these files: any working model ranks them high
    assert report["roc_auc"] > 0.8
    assert {"roc_auc", "average_precision", "card_precision_at_100"} <= set(report)


def test_backtest_without_known_fraud_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_layout("handbook", tmp_path, rows=500, fraud_rate=0.0)
    result = run(
        monkeypatch, tmp_path / "home", "backtest", "--dataset", str(data), "-f", "handbook"
    )
    assert isinstance(result.exception, FraudwatchError)
    assert result.exception.code == "model_data" and "0 known frauds" in result.exception.message


@pytest.mark.parametrize(
    "command",
    [["train"], ["evaluate"], ["backtest"], ["models", "list"], ["models", "promote"]],
)
def test_model_commands_have_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
