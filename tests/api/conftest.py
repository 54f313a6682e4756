"""An API over a fresh embedded deployment (its own home, SQLite store, keys), in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fraudwatch.api.app import create_app
from fraudwatch.bootstrap import Container, bootstrap
from fraudwatch.control.repository import Role
from fraudwatch.settings import load_settings


@pytest.fixture
def container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    for name in list(__import__("os").environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    app = bootstrap(load_settings(home=tmp_path / "home", warmup_days=0))
    yield app
    app.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    from fraudwatch.scoring.service import ScoringService

    service = ScoringService(container)
    with TestClient(create_app(service, poll_s=0.1)) as test_client:
        yield test_client


@pytest.fixture
def keys(container: Container) -> dict[Role, dict[str, str]]:
    """An Authorization header per role."""
    out = {}
    for role in Role:
        _, token = container.control.create_api_key(role=role, name=f"test-{role.value}", by="test")
        out[role] = {"Authorization": f"Bearer {token}"}
    return out
