import base64
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from fraudwatch.security.keys import load_keys
from fraudwatch.settings import Settings, load_settings


def test_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FRAUDWATCH_HOME", raising=False)
    settings = Settings()
    assert settings.deployment == "embedded"
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_database_url.endswith(".fraudwatch/fraudwatch.db")


def test_environment_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "fw.toml"
    config.write_text('ingest_batch_size = 123\nbank_csv_timezone = "Europe/Paris"\n')
    monkeypatch.setenv("FRAUDWATCH_CONFIG", str(config))
    monkeypatch.setenv("FRAUDWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FRAUDWATCH_BANK_CSV_TIMEZONE", "Europe/Rome")
    settings = Settings()
    assert settings.ingest_batch_size == 123
    assert settings.bank_csv_timezone == "Europe/Rome"  # environment beats the file
    assert settings.home == tmp_path / "home"


def test_unknown_setting_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "fw.toml"
    config.write_text("ingest_batchsize = 5\n")
    monkeypatch.setenv("FRAUDWATCH_CONFIG", str(config))
    with pytest.raises(ValidationError, match="ingest_batchsize"):
        Settings()


def test_distributed_needs_explicit_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAUDWATCH_CONFIG", raising=False)
    with pytest.raises(ValidationError, match="FRAUDWATCH_TOKEN_KEY"):
        Settings(deployment="distributed", database_url="postgresql://x@127.0.0.1/db")


def test_embedded_keys_are_created_once_and_reused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    tokenizer, ring = load_keys(settings)
    again, ring2 = load_keys(settings)
    assert tokenizer.token("4111111111111111") == again.token("4111111111111111")
    blob = ring.encrypt("x", b"a")
    assert ring2.decrypt(ring.active_key_id, blob, b"a") == "x"
    assert (tmp_path / "keys" / "card-token.key").stat().st_mode & 0o777 == 0o600


def test_explicit_keys(tmp_path: Path) -> None:
    key = base64.b64encode(bytes(range(32))).decode()
    settings = Settings(
        home=tmp_path, token_key="00" * 32, encryption_keys={"a": key}, active_key_id="a"
    )
    _, ring = load_keys(settings)
    assert ring.active_key_id == "a"
    assert not (tmp_path / "keys").exists()


@pytest.fixture
def no_settings_in_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No FRAUDWATCH_* variable set: the settings are the defaults unless a test sets one."""
    for name in list(os.environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_worker_commits_each_batch_unless_told_otherwise(
    tmp_path: Path, no_settings_in_env: pytest.MonkeyPatch
) -> None:
    from fraudwatch.cli.stream import worker_settings

    monkeypatch = no_settings_in_env
    default = load_settings(home=tmp_path)
    assert default.store_commit_interval_s == 0.25  # the API's
    assert worker_settings(default).store_commit_interval_s == 0.0
    monkeypatch.setenv("FRAUDWATCH_STORE_COMMIT_INTERVAL_S", "0.1")
    assert worker_settings(load_settings(home=tmp_path)).store_commit_interval_s == 0.1


def test_the_worker_leaves_the_dashboard_projector_to_the_deployment_unless_told_otherwise(
    tmp_path: Path, no_settings_in_env: pytest.MonkeyPatch
) -> None:
    from fraudwatch.cli.stream import worker_settings

    monkeypatch = no_settings_in_env
    default = load_settings(home=tmp_path)
    assert default.dashboard_projector  # the API keeps the rollups
    assert not worker_settings(default).dashboard_projector
    monkeypatch.setenv("FRAUDWATCH_DASHBOARD_PROJECTOR", "true")
    assert worker_settings(load_settings(home=tmp_path)).dashboard_projector
