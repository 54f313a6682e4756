"""The dashboard's server side: the built app served at / and the read API it is written
against, checked on a small store seeded with figures chosen by hand."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import insert

from fraudwatch.api.app import create_app
from fraudwatch.bootstrap import Container, bootstrap
from fraudwatch.control.repository import Role
from fraudwatch.decisions.model import Outcome
from fraudwatch.devtools.process import free_port
from fraudwatch.events.model import Channel, Device, Login, content_hash
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import load_settings
from fraudwatch.storage import WriteBatch, tables
from tests.analytics.seed import T0, Row, seed


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


# -- the read API over a seeded store -------------------------------------------------------------

Keys = dict[Role, dict[str, str]]


@pytest.fixture
def seeded(client: TestClient, container: Container) -> TestClient:
    seed(container.store)
    client.app.state.dashboard_projector.catch_up()  # type: ignore[attr-defined]
    return client


def _ids(client: TestClient, keys: Keys, query: str) -> list[str]:
    answer = client.get(f"/v1/decisions?{query}", headers=keys[Role.VIEWER])
    assert answer.status_code == 200, answer.text
    return [item["transaction_id"] for item in answer.json()["items"]]


def test_decisions_filter_and_page_without_gaps(seeded: TestClient, keys: Keys) -> None:
    viewer = keys[Role.VIEWER]
    pages, after = [], ""
    while True:
        page = seeded.get(f"/v1/decisions?limit=2{after}", headers=keys[Role.VIEWER]).json()
        pages.append([item["transaction_id"] for item in page["items"]])
        if page["next"] is None:
            break
        after = f"&after={page['next']}"
    assert pages == [["tx-6", "tx-5"], ["tx-4", "tx-3"], ["tx-2", "tx-1"]]
    assert _ids(seeded, keys, "outcome=block&outcome=review") == ["tx-6", "tx-3", "tx-2"]
    first = seeded.get("/v1/decisions?outcome=block&outcome=review&limit=2", headers=viewer)
    rest = seeded.get(
        f"/v1/decisions?outcome=block&outcome=review&limit=2&after={first.json()['next']}",
        headers=viewer,
    ).json()
    assert [i["transaction_id"] for i in first.json()["items"] + rest["items"]] == [
        "tx-6", "tx-3", "tx-2",
    ]  # fmt: skip
    assert rest["next"] is None
    assert _ids(seeded, keys, "min_score=0.5") == ["tx-6", "tx-5", "tx-3"]
    assert _ids(seeded, keys, "min_amount=150&max_amount=350") == ["tx-3", "tx-2"]
    assert _ids(seeded, keys, "merchant=m-FR") == ["tx-4", "tx-3"]
    assert _ids(seeded, keys, "merchant=Shop%20D") == ["tx-6", "tx-2", "tx-1"]
    assert _ids(seeded, keys, "country=US") == ["tx-5"]
    assert _ids(seeded, keys, "channel=card_present") == ["tx-4", "tx-3"]
    assert _ids(seeded, keys, "scenario=card_testing") == ["tx-4", "tx-2"]
    assert _ids(seeded, keys, "since=2026-03-02T10:15:00Z&until=2026-03-02T11:15:00Z") == [
        "tx-4", "tx-3",
    ]  # fmt: skip
    three = seeded.get("/v1/decisions?outcome=block&country=FR", headers=keys[Role.VIEWER])
    view = three.json()["items"][0]
    assert view["rules_hit"] == ["big", "velocity"] and view["shadow_hits"] == ["new_rule"]
    assert view["label"]["fraud_type"] == "account_takeover" and view["label"]["is_fraud"]
    assert (view["amount"], view["currency"], view["card_last4"]) == (300.0, "EUR", "1111")
    assert view["latency_ms"]["total"] == 4.0 and view["model_version"] == "v1"
    refused = {
        "outcome=maybe": "outcome", "country=Germany": "country", "after=nonsense": "after",
        "since=2026-03-02T10:00:00": "since",
    }  # fmt: skip
    for bad, field in refused.items():
        answer = seeded.get(f"/v1/decisions?{bad}", headers=keys[Role.VIEWER])
        assert answer.status_code == 422 and field in answer.json()["detail"], bad


def test_detail_shows_the_transaction_without_personal_data(
    seeded: TestClient, keys: Keys, container: Container
) -> None:
    detail = seeded.get("/v1/decisions/tx-3/detail", headers=keys[Role.VIEWER]).json()
    assert detail["decision"]["outcome"] == "block" and detail["features"] is None
    tx = detail["transaction"]
    assert (tx["card_bin"], tx["card_last4"], tx["merchant_country"]) == ("411111", "1111", "FR")
    assert not any(name.endswith("_enc") or "email" in name for name in tx)
    with container.store.engine.begin() as conn:
        conn.execute(
            insert(tables.decision_features),
            {"transaction_id": "tx-3", "event_time": T0 + timedelta(minutes=20),
             "features": {"tx_count_1h_by_card": 4.0, "ip_country": None}},
        )  # fmt: skip
    again = seeded.get("/v1/decisions/tx-3/detail", headers=keys[Role.VIEWER]).json()
    assert again["features"] == {"tx_count_1h_by_card": 4.0, "ip_country": None}
    missing = seeded.get("/v1/decisions/nope/detail", headers=keys[Role.VIEWER])
    assert missing.status_code == 404 and "transaction_id" in missing.json()["detail"]


def test_timeline_and_logins(seeded: TestClient, keys: Keys, container: Container) -> None:
    viewer = keys[Role.VIEWER]
    card = "tok_" + "b" * 32
    first = seeded.get(f"/v1/timeline?card_token={card}&limit=1", headers=viewer).json()
    second = seeded.get(
        f"/v1/timeline?card_token={card}&limit=1&after={first['next']}", headers=viewer
    ).json()
    assert [i["transaction_id"] for i in first["items"] + second["items"]] == ["tx-5", "tx-3"]
    assert first["items"][0]["outcome"] == "step_up" and not first["items"][0]["label"]["is_fraud"]
    by_customer = seeded.get("/v1/timeline?customer_id=cust-a", headers=viewer).json()
    assert [i["transaction_id"] for i in by_customer["items"]] == ["tx-6", "tx-4", "tx-2", "tx-1"]
    both = seeded.get(f"/v1/timeline?card_token={card}&customer_id=cust-a", headers=viewer)
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    login = Login(
        login_id="l-1", customer_id="cust-a", event_time=T0, success=False, source="app",
        ip_address="203.0.113.9", country="DE", device=Device(id="d-1", type="mobile"),
    )  # fmt: skip
    container.store.write(WriteBatch(logins=[(login, content_hash(login))]))
    items = seeded.get("/v1/logins?customer_id=cust-a", headers=viewer).json()["items"]
    assert items == [
        {"login_id": "l-1", "event_time": "2026-03-02T10:00:00Z", "success": False,
         "country": "DE", "device_id": "d-1", "device_type": "mobile", "latitude": None,
         "longitude": None},
    ]  # fmt: skip


def test_analytics_endpoints(seeded: TestClient, keys: Keys) -> None:
    viewer = keys[Role.VIEWER]

    def get(path: str) -> dict[str, Any]:
        answer = seeded.get(path, headers=viewer)
        assert answer.status_code == 200, (path, answer.text)
        body: dict[str, Any] = answer.json()
        return body

    summary = get("/v1/analytics/summary")
    assert summary["decisions"] == 6 and summary["fraud_caught"] == 2
    assert summary["until"] == "2026-03-03T11:00:00Z"
    geo = {g["country"]: g["fraud"] for g in get("/v1/analytics/geo?by=customer")["items"]}
    assert geo == {"DE": 1, "FR": 2, "US": 0}  # billed: tx-4 DE; tx-2 and tx-3 FR
    assert len(get("/v1/analytics/trends?bucket=day")["items"]) == 2
    assert get("/v1/analytics/breakdown?by=channel&limit=1")["items"][0]["key"] == "ecommerce"
    perf = get("/v1/analytics/model-performance")["items"]
    assert [p["model_version"] for p in perf] == ["v1", "v2"]
    assert sum(get("/v1/analytics/scores?bins=10")["fraud"]) == 3
    rules = {r["rule"]: r["hits"] for r in get("/v1/analytics/rules")["items"]}
    assert rules == {"big": 3, "velocity": 1, "new_rule": 0}
    window = get("/v1/analytics/summary?since=2026-03-02T11:00:00Z&until=2026-03-02T12:00:00Z")
    assert window["decisions"] == 2 and window["fraud_missed"] == 1
    bad = seeded.get("/v1/analytics/breakdown?by=colour", headers=viewer)
    assert bad.status_code == 422 and "by" in bad.json()["detail"]
    assert get("/v1/models") == {"items": [], "champion": None, "challenger": None}


def test_viewers_read_but_only_editors_backtest(seeded: TestClient, keys: Keys) -> None:
    for path in ("/v1/decisions", "/v1/analytics/summary", "/v1/analytics/rules", "/v1/models"):
        assert seeded.get(path).status_code == 401
        assert seeded.get(path, headers=keys[Role.VIEWER]).status_code == 200
    body = {"rules": [{"name": "huge", "condition": "amount > 250", "action": "block"}]}
    assert (
        seeded.post("/v1/rules/backtest", json=body, headers=keys[Role.VIEWER]).status_code == 403
    )
    assert (
        seeded.post("/v1/rules/backtest", json=body, headers=keys[Role.SERVICE]).status_code == 403
    )
    assert (
        seeded.post("/v1/rules/backtest", json=body, headers=keys[Role.ANALYST]).status_code == 200
    )


def test_backtest_reports_hits_and_the_decisions_it_would_change(
    seeded: TestClient, keys: Keys
) -> None:
    body = {"rules": [{"name": "huge", "condition": "amount > 250", "action": "block"}]}
    answer = seeded.post("/v1/rules/backtest", json=body, headers=keys[Role.ANALYST])
    result = answer.json()
    assert (result["transactions"], result["labelled"]) == (6, 4)
    # hits tx-3 (fraud) and tx-5 (legitimate); frauds are tx-2, tx-3, tx-4
    assert result["per_rule"] == [
        {"rule": "huge", "hits": 2, "precision": 0.5, "recall": pytest.approx(1 / 3)}
    ]
    assert result["total"]["hits"] == 2
    # tx-5 was stepped up at risk 0.70; blocked now. tx-3 was blocked already.
    assert result["changed"] == {
        "count": 1,
        "examples": [
            {"transaction_id": "tx-5", "stored_outcome": "step_up", "new_outcome": "block"}
        ],
        "by_transition": {"step_up->block": 1},
    }
    evil = {"rules": [{"name": "evil", "condition": "__import__('os').system('x')"}]}
    refused = seeded.post("/v1/rules/backtest", json=evil, headers=keys[Role.ANALYST])
    assert refused.status_code == 422 and "evil" in refused.json()["problems"]
    neither = seeded.post("/v1/rules/backtest", json={}, headers=keys[Role.ANALYST])
    assert neither.status_code == 422 and "exactly one" in neither.json()["detail"]


# -- the live feed over real HTTP -----------------------------------------------------------------


@pytest.fixture
def served(container: Container) -> Iterator[str]:
    """The app under uvicorn on a loopback port (a real event stream, not the test client)."""
    app = create_app(ScoringService(container), poll_s=0.1)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                       timeout_graceful_shutdown=5)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)
    assert not thread.is_alive(), "the server did not stop (a feed kept it open?)"


def _later(tid: str, hours: int) -> Row:
    return Row(tid, hours * 60, "75.00", "NL", "NL", "5411", Channel.ECOMMERCE, Outcome.REVIEW,
               0.4, ("big",), (), 2.0, "v1", None)  # fmt: skip


def _events(response: httpx.Response, count: int, timeout_s: float = 20) -> list[dict[str, str]]:
    """The first `count` decision events (id, data) of a stream, or fail after `timeout_s`."""
    found: list[dict[str, str]] = []
    event: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    for line in response.iter_lines():
        assert time.monotonic() < deadline, f"only {len(found)} events in {timeout_s} s"
        if line.startswith(("id: ", "event: ", "data: ")):
            name, _, value = line.partition(": ")
            event[name] = value
        elif line == "" and event:
            if event.get("event") == "decision":
                found.append(event)
            event = {}
            if len(found) == count:
                return found
    raise AssertionError("the stream ended early")


def test_live_feed_delivers_new_decisions_and_resumes(
    served: str, container: Container, keys: Keys
) -> None:
    seed(container.store)
    headers = keys[Role.VIEWER]
    timeout = httpx.Timeout(20.0)
    with httpx.stream("GET", f"{served}/v1/stream/decisions", headers=headers,
                      timeout=timeout) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        seed(container.store, (_later("tx-new", 50),))  # stored after the client connected
        (first,) = _events(response, 1)
    assert json.loads(first["data"])["transaction_id"] == "tx-new"  # nothing from before
    seed(container.store, (_later("tx-a", 51), _later("tx-b", 52)))
    resume = {**headers, "Last-Event-ID": first["id"]}
    with httpx.stream("GET", f"{served}/v1/stream/decisions?outcome=review", headers=resume,
                      timeout=timeout) as response:  # fmt: skip
        got = [json.loads(e["data"])["transaction_id"] for e in _events(response, 2)]
    assert got == ["tx-a", "tx-b"]
    denied = httpx.get(f"{served}/v1/stream/decisions", timeout=timeout)
    assert denied.status_code == 401


def test_the_projector_thread_counts_what_the_api_scores(client: TestClient, keys: Keys) -> None:
    body = {
        "transaction_id": "tx-live", "event_time": "2026-03-01T10:00:00Z", "amount": "12.00",
        "currency": "EUR", "card": {"token": "tok_" + "c" * 32}, "merchant": {"id": "m-1",
        "country": "NL"},
    }  # fmt: skip
    scored = client.post("/v1/transactions/score", json=body, headers=keys[Role.SERVICE])
    assert scored.status_code == 200, scored.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        geo = client.get("/v1/analytics/geo", headers=keys[Role.VIEWER]).json()["items"]
        if geo:
            break
        time.sleep(0.1)
    assert [(g["country"], g["decisions"]) for g in geo] == [("NL", 1)]
