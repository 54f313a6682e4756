"""The projector as its own process (`fraudwatch projector`), for scoring nodes that run with
`dashboard_projector` off: the API then never starts the projector thread."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from fraudwatch.api.app import create_app
from fraudwatch.bootstrap import bootstrap
from fraudwatch.cli.main import app as cli
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import load_settings
from fraudwatch.storage import tables as t
from tests.analytics.seed import seed


def test_fraudwatch_projector_once_fills_the_rollups_the_api_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    container = bootstrap(load_settings(home=home, warmup_days=0, dashboard_projector=False))
    container.store.migrate()
    seed(container.store)
    api = create_app(ScoringService(container))
    with TestClient(api):
        assert not any(t.name == "dashboard-projector" for t in __import__("threading").enumerate())

    def decisions_projected() -> int:
        with container.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.dash_facts)).scalar_one())

    assert decisions_projected() == 0
    monkeypatch.setenv("FRAUDWATCH_HOME", str(home))
    result = CliRunner().invoke(cli, ["projector", "--once"])
    assert result.exit_code == 0, result.output
    assert "projected" in result.output
    assert decisions_projected() == 6  # seed.ROWS
    container.close()
