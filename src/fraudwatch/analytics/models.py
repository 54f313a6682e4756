"""The model registry as the dashboard shows it: versions, stages, training metrics and data
period from MLflow, with each version's live figures from the stored decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, make_url

from fraudwatch.analytics import aggregates
from fraudwatch.analytics.views import (
    DataPeriod,
    LiveFigures,
    ModelCatalogue,
    ModelItem,
    Window,
)
from fraudwatch.settings import Settings


def _registry_exists(uri: str) -> bool:
    """False for a local SQLite registry file not created yet (opening it would create it)."""
    if not uri.startswith("sqlite:"):
        return True
    database = make_url(uri).database
    return database is not None and Path(database).is_file()


def catalogue(settings: Settings, conn: Connection, span: Window) -> ModelCatalogue:
    uri = settings.resolved_mlflow_tracking_uri
    if not _registry_exists(uri):
        return ModelCatalogue(items=[], champion=None, challenger=None)
    from fraudwatch.models.registry import ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    client, name = registry.client, registry.name
    live = _live(conn, span)
    versions = client.search_model_versions(f"name = '{name}'")
    aliases: dict[str, list[str]] = {}
    if versions:  # searched versions do not carry their aliases: the model has them
        for alias, number in client.get_registered_model(name).aliases.items():
            aliases.setdefault(str(number), []).append(alias)
    items = []
    for version in versions:
        run = client.get_run(version.run_id) if version.run_id else None
        tags = run.data.tags if run is not None else {}
        items.append(
            ModelItem(
                name=name,
                version=int(version.version),
                aliases=sorted(aliases.get(str(version.version), [])),
                stage=version.tags.get("stage", ""),
                created_at=datetime.fromtimestamp(version.creation_timestamp / 1000, UTC),
                metrics=dict(run.data.metrics) if run is not None else {},
                feature_set_version=version.tags.get("feature_set_version", ""),
                data_period=DataPeriod(
                    start=tags.get("data_start") or None, end=tags.get("data_end") or None
                ),
                live=live.get(f"{name}/{version.version}"),
            )
        )
    items.sort(key=lambda item: item.version)

    def holding(alias: str) -> int | None:
        return next((item.version for item in items if alias in item.aliases), None)

    return ModelCatalogue(
        items=items, champion=holding("champion"), challenger=holding("challenger")
    )


def _live(conn: Connection, span: Window) -> dict[str, LiveFigures]:
    """Per model version over the whole window."""
    return {
        item.model_version: LiveFigures(
            **item.model_dump(exclude={"start", "model_version"}),
        )
        for item in aggregates.model_performance(conn, span, "window")
        if item.model_version
    }


def champion_period(settings: Settings) -> Window | None:
    """The data period the champion was trained on, when the registry records one."""
    if not _registry_exists(settings.resolved_mlflow_tracking_uri):
        return None
    from fraudwatch.models.registry import ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    try:
        version = registry.client.get_model_version_by_alias(registry.name, "champion")
        tags = registry.client.get_run(str(version.run_id)).data.tags
        start = datetime.fromisoformat(tags["data_start"])
        end = datetime.fromisoformat(tags["data_end"])
    except Exception:  # no champion, no run or no period recorded: no such reference
        return None
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return Window(since=start, until=end) if start < end else None
