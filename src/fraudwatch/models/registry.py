"""The model registry on MLflow (local SQLite by default): every training run logs its
parameters, metrics, feature-set version and data period; models are registered and promoted
candidate -> shadow -> challenger -> champion, and loaded by stage.

MLflow 3 deprecates its built-in stages, so a stage is two things here: the version tag
`stage` (its current stage, or `archived` once replaced) and a registered-model alias of the
same name pointing at the version that holds it (`models:/fraudwatch-risk@champion`). A new
version enters as a candidate; promotion moves one step at a time; the version that held the
target stage before is archived.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudwatch.errors import FraudwatchError, NotFoundError
from fraudwatch.models.bundle import ModelBundle
from fraudwatch.settings import Settings

STAGES = ("candidate", "shadow", "challenger", "champion")
ARCHIVED = "archived"
EXPERIMENT = "fraudwatch"


class PromotionError(FraudwatchError):
    code = "bad_promotion"


@dataclass(frozen=True)
class RegisteredVersion:
    version: int
    stage: str
    run_id: str
    feature_set_version: str
    source: str
    created: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class ModelRegistry:
    def __init__(self, tracking_uri: str, name: str, artifact_root: Path) -> None:
        import logging

        import mlflow
        from mlflow import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)

        self.tracking_uri = tracking_uri
        self.name = name
        self.artifact_root = artifact_root
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRegistry:
        settings.home.mkdir(parents=True, exist_ok=True)
        return cls(
            settings.resolved_mlflow_tracking_uri,
            settings.model_name,
            (settings.home / "mlartifacts").resolve(),
        )

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return str(found.experiment_id)
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return str(
            self.client.create_experiment(EXPERIMENT, artifact_location=self.artifact_root.as_uri())
        )

    def log_training(
        self, bundle: ModelBundle, directory: Path, metrics: dict[str, float | None] | None = None
    ) -> int:
        """Log the run (params, metrics, tags, the model directory) and register the model as
        a new candidate version; returns the version number."""
        meta = bundle.metadata
        run = self.client.create_run(self._experiment_id(), run_name=directory.name)
        run_id = run.info.run_id
        params = {
            **meta.get("params", {}),
            "algorithm": bundle.classifier.algorithm,
            **{f"threshold_{k}": v for k, v in bundle.thresholds.as_dict().items()},
            "threshold_rule": meta.get("operating_point", {}).get("rule", "configured"),
        }
        for key, value in params.items():
            self.client.log_param(run_id, key, value)
        for key, value in {
            "train_rows": meta.get("train_rows"),
            "train_frauds": meta.get("train_frauds"),
            "trees": meta.get("trees"),
            **(metrics or {}),
        }.items():
            if isinstance(value, int | float):
                self.client.log_metric(run_id, key, float(value))
        tags = {
            "feature_set_version": meta.get("feature_set_version", ""),
            "feature_set_name": meta.get("feature_set_name", ""),
            "data_start": meta.get("data_start", ""),
            "data_end": meta.get("data_end", ""),
            "data_source": meta.get("source", ""),
            **{f"period.{k}": v for k, v in meta.get("split", {}).items()},
        }
        for key, value in tags.items():
            self.client.set_tag(run_id, key, str(value))
        self.client.log_artifacts(run_id, str(directory), "model")
        self.client.set_terminated(run_id)
        if not self.client.search_registered_models(filter_string=f"name = '{self.name}'"):
            self.client.create_registered_model(self.name)
        version = self.client.create_model_version(
            self.name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run_id,
            tags={"stage": STAGES[0], "feature_set_version": tags["feature_set_version"]},
        )
        self.client.set_registered_model_alias(self.name, STAGES[0], version.version)
        return int(version.version)

    def versions(self) -> list[RegisteredVersion]:
        found = self.client.search_model_versions(f"name = '{self.name}'")
        return sorted(
            (
                RegisteredVersion(
                    int(v.version),
                    v.tags.get("stage", ""),
                    v.run_id or "",
                    v.tags.get("feature_set_version", ""),
                    v.source or "",
                    int(v.creation_timestamp),
                )
                for v in found
            ),
            key=lambda v: v.version,
        )

    def promote(self, version: int, stage: str) -> RegisteredVersion:
        """Move `version` one step up; the version that held `stage` is archived."""
        if stage not in STAGES[1:]:
            raise PromotionError(f"stage must be one of {', '.join(STAGES[1:])}, got {stage!r}")
        current = {v.version: v for v in self.versions()}
        if version not in current:
            raise NotFoundError(f"{self.name} has no version {version}")
        expected = STAGES[STAGES.index(stage) - 1]
        if current[version].stage != expected:
            raise PromotionError(
                f"version {version} is {current[version].stage or 'unstaged'}: only a "
                f"{expected} can become {stage} ({' -> '.join(STAGES)})"
            )
        for other in current.values():
            if other.stage == stage and other.version != version:
                self.client.set_model_version_tag(self.name, str(other.version), "stage", ARCHIVED)
        self.client.set_model_version_tag(self.name, str(version), "stage", stage)
        self.client.set_registered_model_alias(self.name, stage, str(version))
        if self._alias_version(expected) == version:
            self.client.delete_registered_model_alias(self.name, expected)
        return next(v for v in self.versions() if v.version == version)

    def _alias_version(self, stage: str) -> int | None:
        try:
            return int(self.client.get_model_version_by_alias(self.name, stage).version)
        except Exception:  # MlflowException: no such alias or model
            return None

    def at_stage(self, stage: str) -> RegisteredVersion:
        version = self._alias_version(stage)
        if version is None:
            raise NotFoundError(f"no {self.name} model is {stage}")
        return next(v for v in self.versions() if v.version == version)

    def download(self, stage: str, into: Path | None = None) -> Path:
        """The model directory of the version at `stage`, copied locally."""
        from urllib.parse import unquote, urlparse

        from mlflow.artifacts import download_artifacts

        found = self.at_stage(stage)
        location = urlparse(found.source)
        if location.scheme == "file":  # the local default: read in place, no copy
            return Path(unquote(location.path))
        target = into or Path(tempfile.mkdtemp(prefix=f"fraudwatch-{stage}-"))
        return Path(download_artifacts(artifact_uri=found.source, dst_path=str(target)))

    def load(self, stage: str) -> ModelBundle:
        return ModelBundle.load(self.download(stage))
