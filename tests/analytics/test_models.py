"""The model catalogue from a real (local) MLflow registry, with live figures per version."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fraudwatch.analytics.models import catalogue, champion_period
from fraudwatch.analytics.projector import Projector
from fraudwatch.analytics.views import Window
from fraudwatch.bootstrap import bootstrap
from fraudwatch.models.registry import ModelRegistry
from fraudwatch.settings import load_settings
from tests.analytics.seed import ROWS, T0, seed


def _register(registry: ModelRegistry, stage: str, auc: float) -> str:
    client = registry.client
    found = client.get_experiment_by_name("dashboard-test")
    experiment = found.experiment_id if found else client.create_experiment("dashboard-test")
    run = client.create_run(experiment).info.run_id
    client.log_metric(run, "roc_auc", auc)
    client.set_tag(run, "data_start", "2026-02-01T00:00:00+00:00")
    client.set_tag(run, "data_end", "2026-03-01T00:00:00+00:00")
    client.set_terminated(run)
    if not client.search_registered_models(filter_string=f"name = '{registry.name}'"):
        client.create_registered_model(registry.name)
    version = client.create_model_version(
        registry.name, source="file:///nowhere", run_id=run,
        tags={"stage": stage, "feature_set_version": "fs-1"},
    )  # fmt: skip
    client.set_registered_model_alias(registry.name, stage, version.version)
    return str(version.version)


def test_versions_stages_metrics_and_live_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    settings = load_settings(home=tmp_path / "home", warmup_days=0)
    app = bootstrap(settings)
    try:
        with app.store.engine.connect() as conn:  # no registry file yet: nothing, none created
            assert catalogue(settings, conn, Window(since=T0, until=T0)).items == []
        assert not (tmp_path / "home" / "mlflow.db").exists()
        registry = ModelRegistry.from_settings(settings)
        first = _register(registry, "champion", 0.91)
        second = _register(registry, "challenger", 0.93)
        # the decisions of v1 in the seed were made by the champion
        seed(app.store, tuple(replace(r, model=f"fraudwatch-risk/{first}")
                              if r.model == "v1" else r for r in ROWS))  # fmt: skip
        Projector(app.store.engine).catch_up()
        span = Window(since=T0 - timedelta(hours=1), until=T0 + timedelta(days=2))
        with app.store.engine.connect() as conn:
            found = catalogue(settings, conn, span)
    finally:
        app.close()
    assert (found.champion, found.challenger) == (int(first), int(second))
    one, two = found.items
    assert one.aliases == ["champion"] and one.stage == "champion"
    assert one.metrics == {"roc_auc": 0.91} and one.feature_set_version == "fs-1"
    assert one.data_period.start == "2026-02-01T00:00:00+00:00"
    assert one.live is not None and (one.live.decisions, one.live.fraud) == (5, 3)
    assert one.live.precision == pytest.approx(2 / 3) and two.live is None
    assert champion_period(settings) == Window(
        since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 3, 1, tzinfo=UTC)
    )
