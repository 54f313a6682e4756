"""Settings: environment (`FRAUDWATCH_` prefix), an optional TOML file, embedded defaults that
just work.

Nothing else in the package reads `os.environ`; the composition root (`bootstrap.py`) and the
entry points build a `Settings` and pass what each part needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fraudwatch.alerts.config import ChannelConfig, Route

CONFIG_ENV = "FRAUDWATCH_CONFIG"
DEFAULT_CONFIG_FILE = "fraudwatch.toml"


def _config_file() -> Path | None:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit)
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Every knob of a fraudwatch deployment.

    The embedded deployment (the default) needs no server and keeps all its files under `home`.
    The distributed deployment picks PostgreSQL (and, in later parts, Redis and Kafka) by URL and
    must be given its secrets explicitly.
    """

    model_config = SettingsConfigDict(
        env_prefix="FRAUDWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    deployment: Literal["embedded", "distributed"] = "embedded"
    home: Path = Field(default=Path(".fraudwatch"), description="Directory of every embedded file.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the system of record; default: SQLite file under home.",
    )

    token_key: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC-SHA256 card tokens (hex or base64, at least 32 bytes).",
    )
    encryption_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="AES-256 keys for personal data, key id -> base64 of 32 bytes.",
    )
    active_key_id: str | None = Field(
        default=None, description="Key id that encrypts new data; the others still decrypt."
    )

    ingest_batch_size: int = Field(default=20_000, ge=1, le=200_000)
    partition_months_ahead: int = Field(default=3, ge=0, le=24)
    bank_csv_timezone: str = "Europe/Berlin"
    log_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="Extra application-log types: name -> regex with named groups.",
    )

    models_dir: Path | None = Field(
        default=None, description="Directory of trained model artefacts; default: home/models."
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking and registry URI; default: SQLite file home/mlflow.db.",
    )
    model_name: str = Field(
        default="fraudwatch-risk", description="Registered model name in the MLflow registry."
    )

    # -- scoring ------------------------------------------------------------------------------
    review_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Risk from which to review; default: the model's."
    )
    step_up_threshold: float | None = Field(default=None, ge=0, le=1)
    block_threshold: float | None = Field(default=None, ge=0, le=1)
    rules_poll_s: float = Field(
        default=1.0, gt=0, le=60, description="How often scorers check for new rules and lists."
    )
    allowed_lateness_s: int = Field(
        default=300, ge=0, description="How late a transaction may arrive and still update state."
    )
    warmup_days: int = Field(
        default=30, ge=0, description="Stored history replayed into the features at start-up."
    )
    max_batch: int = Field(default=10_000, ge=1, le=100_000, description="Largest scoring batch.")
    store_writer: Literal["process", "thread"] = Field(
        default="process",
        description="Where `serve` and `worker` store decisions: a child process (the write off "
        "the scoring process's interpreter lock) or a thread; an in-memory database always "
        "uses a thread.",
    )
    seen_ids_capacity: int = Field(
        default=20_000_000,
        ge=1_000,
        description="Transaction ids a scorer remembers as replayed or decided, per generation "
        "of its two Bloom filters (1.8 MB per million ids each): a retried transaction "
        "among the last one to two generations is answered with its first decision; an older "
        "one is scored again (the store keeps its first decision).",
    )
    store_commit_interval_s: float = Field(
        default=0.25,
        ge=0.0,
        le=5.0,
        description="The writer process commits at most this often: batches that arrive sooner "
        "are joined into the next commit. A commit writes every index page it touched (on "
        "SQLite whole pages, to the write-ahead log and again at the checkpoint), and the keys "
        "of transactions and decisions are touched at random, so fewer, larger commits cost "
        "less: on SQLite, in the benchmark scenario, 75-78 µs of writer CPU per transaction "
        "in commits of 1,250, 54-55 in commits of 20,000. It delays the storing (and what "
        "waits for it: Kafka offsets, DecisionMade), never an answer; an idle writer commits "
        "at once. 0 commits each batch as it comes, the default of `fraudwatch worker` when "
        "this is not set (its latency counts the storing).",
    )
    store_writer_nice: int = Field(
        default=19,
        ge=0,
        le=19,
        description="How much lower than the API's the scheduling priority of `fraudwatch "
        "serve`'s writer process is (Unix niceness added to its own). The writer's work is off "
        "the answer path: when the scoring thread and the writer want the same core, the "
        "answers go first and the writer catches up when the load dips (it has the other "
        "core whenever the scoring thread does not need it). At 5,000 single requests/s "
        "offered (30 s runs, alternated): p99 43 / 52 / 46 / 82 ms at 19 against 65 / 68 ms at "
        "5 (and 62-436 against 95-910 ms at 5 against 0); batches of 1,000 at 10,000 "
        "transactions/s kept up either way. The streaming worker's writer keeps the worker's "
        "priority: storing is on its latency path.",
    )
    score_linger_ms: float = Field(
        default=2.0,
        ge=0.0,
        le=50.0,
        description="How long the API's single-transaction route waits for more requests to "
        "score with one that arrives while requests are coming together (the last group "
        "scored held more than one); a lone request is scored at once. Groups are cheaper per "
        "transaction (the feature kernel's and the model's calls cost the same for one or "
        "thirty): at 5,000 requests/s offered, six 30 s runs each, the server took 167-182 µs "
        "of CPU per request with 2 ms against 194-201 with 0, in groups of 22-29 against "
        "10-17 (docs/benchmarks.md). 0: score each group as soon as the event loop gets to it.",
    )
    store_wal_limit_mb: int = Field(
        default=1024,
        ge=16,
        description="SQLite: how large the write-ahead log of the writer process may grow "
        "before the writer has it started over. Its checkpoints run beside the writes, which "
        "never leave the log wholly copied, so under a steady load the log is started over "
        "only at this size; doing so makes the writer wait for a last checkpoint and its fsync "
        "(0.25-0.4 s on the reference machine). Larger: fewer such pauses, more disk.",
    )

    # -- dashboard ----------------------------------------------------------------------------
    dashboard_dir: Path | None = Field(
        default=None,
        description="The built dashboard (index.html, assets/) served at /; default: the "
        "repository's dashboard/dist.",
    )

    dashboard_projector: bool = Field(
        default=True,
        description="Keep the dashboard's rollups current from inside `fraudwatch serve`. On "
        "scoring-only nodes switch it off and run `fraudwatch projector` in one process "
        "elsewhere (its work then takes no CPU or write lock from scoring). `fraudwatch worker` "
        "leaves it off unless it is set explicitly.",
    )

    # -- passkeys (WebAuthn) ------------------------------------------------------------------
    webauthn_rp_id: str = Field(
        default="localhost",
        description="The relying party id of passkeys: the domain users and customers see "
        "(e.g. fraud.example.com).",
    )
    webauthn_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to answer a passkey ceremony (e.g. https://fraud.example."
        "com); empty: https on the rp id or its subdomains (http on localhost).",
    )

    # -- alerts -------------------------------------------------------------------------------
    alert_channels: dict[str, ChannelConfig] = Field(
        default_factory=dict, description="Alert channels by name (Slack, email, SMS, webhook)."
    )
    alert_routes: list[Route] = Field(
        default_factory=list, description="Which decisions alert which channels."
    )
    step_up_channels: dict[Literal["sms", "email"], str] = Field(
        default_factory=dict,
        description="Alert channels (by name) that send step-up codes: sms -> a twilio channel, "
        "email -> an email channel.",
    )

    @model_validator(mode="after")
    def _distributed_needs_secrets(self) -> Settings:
        if self.deployment == "distributed":
            missing = [
                name
                for name, value in (
                    ("database_url", self.database_url),
                    ("token_key", self.token_key),
                    ("active_key_id", self.active_key_id),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    "the distributed deployment needs explicit settings: "
                    + ", ".join(f"FRAUDWATCH_{m.upper()}" for m in missing)
                )
        if self.active_key_id and self.active_key_id not in self.encryption_keys:
            raise ValueError(f"active_key_id {self.active_key_id!r} is not in encryption_keys")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'fraudwatch.db').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.home / "models"

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(**overrides: object) -> Settings:
    """Build settings from init arguments, the environment and the TOML file, in that order."""
    return Settings(**overrides)  # type: ignore[arg-type]
