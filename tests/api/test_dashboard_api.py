"""The dashboard's server side: the built app served at / and the read API it is written
against, checked on a small store seeded with figures chosen by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fraudwatch.api.app import create_app
from fraudwatch.bootstrap import bootstrap
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import load_settings


def _served(home: Path, dist: Path) -> Iterator[TestClient]:
    container = bootstrap(load_settings(home=home, warmup_days=0, dashboard_dir=dist))
    try:
        with TestClient(create_app(ScoringService(container), poll_s=0.1)) as client:
            yield client
    finally:
        container.close()


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    for name in list(__import__("os").environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>the app</html>")
    (dist / "assets" / "app-1234.js").write_text("console.log(1)")
    (dist / "favicon.svg").write_text("<svg/>")
    yield from _served(tmp_path / "home", dist)


def test_built_app_is_served_with_spa_fallback(built: TestClient) -> None:
    root = built.get("/")
    assert root.status_code == 200 and root.text == "<html>the app</html>"
    deep = built.get("/cases/42")
    assert deep.status_code == 200 and deep.text == "<html>the app</html>"
    assert deep.headers["cache-control"] == "no-cache"
    asset = built.get("/assets/app-1234.js")
    assert asset.text == "console.log(1)" and "immutable" in asset.headers["cache-control"]
    assert built.get("/favicon.svg").text == "<svg/>"
    assert built.get("/assets/missing.js").status_code == 404
    assert built.get("/../../etc/passwd").text == "<html>the app</html>"


def test_api_paths_are_never_shadowed(built: TestClient) -> None:
    assert built.get("/healthz").json() == {"status": "ok"}
    assert built.get("/openapi.json").json()["info"]["title"] == "fraudwatch"
    assert built.get("/docs").status_code == 200
    missing = built.get("/v1/no-such-thing")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )


def test_without_a_build_the_root_says_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    for client in _served(tmp_path / "home", tmp_path / "nothing-here"):
        page = client.get("/")
        assert page.status_code == 200 and "npm --prefix dashboard run build" in page.text
        assert "make demo" in page.text
