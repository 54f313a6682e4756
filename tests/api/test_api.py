"""The scoring API as a client uses it: keys and roles, scoring (single, batch, idempotent),
bad requests named precisely, labels, logins, decisions, rule sets, lists, thresholds, keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from fraudwatch.control.repository import Role

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
Keys = dict[Role, dict[str, str]]


def tx(
    i: int, *, card: str = "4111111111111111", amount: str = "25.00", minutes: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "transaction_id": f"tx-{i}",
        "event_time": (T0 + timedelta(minutes=minutes)).isoformat(),
        "amount": amount,
        "currency": "EUR",
        "source": "api-test",
        "card": {"number": card},
        "customer_id": "cust-1",
        "merchant": {"id": "m-1", "mcc": "5411", "country": "NL"},
        "channel": "ecommerce",
        **extra,
    }


def publish(
    client: TestClient, keys: Keys, *rules: dict[str, Any], lists: list[str] | None = None
) -> int:
    created = client.post(
        "/v1/rule-sets",
        json={"rules": list(rules), "lists": lists or []},
        headers=keys[Role.ANALYST],
    )
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    analyst_try = client.post(
        f"/v1/rule-sets/{version}/publish", json={}, headers=keys[Role.ANALYST]
    )
    assert analyst_try.status_code == 403  # analysts write drafts; admins publish
    published = client.post(f"/v1/rule-sets/{version}/publish", json={}, headers=keys[Role.ADMIN])
    assert published.status_code == 200, published.text
    return int(version)


def test_every_endpoint_checks_the_key_and_the_role(client: TestClient, keys: Keys) -> None:
    missing = client.post("/v1/transactions/score", json=tx(1))
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post(
        "/v1/transactions/score", json=tx(1), headers={"Authorization": "Bearer fwk_x_y"}
    )
    assert wrong.status_code == 401
    viewer = client.post("/v1/transactions/score", json=tx(1), headers=keys[Role.VIEWER])
    assert viewer.status_code == 403 and "viewer" in viewer.json()["detail"]
    assert (
        client.post(
            "/v1/api-keys", json={"role": "admin", "name": "x"}, headers=keys[Role.ANALYST]
        ).status_code
        == 403
    )
    assert client.get("/v1/audit", headers=keys[Role.SERVICE]).status_code == 403
    assert client.get("/healthz").status_code == 200  # operations need no key
    assert client.get("/readyz").json()["status"] == "ready"


def test_scoring_is_idempotent_on_transaction_id(client: TestClient, keys: Keys) -> None:
    publish(
        client,
        keys,
        {
            "name": "second_in_10m",
            "condition": "tx_count_10m_by_card >= 2",
            "action": "review",
            "weight": 0,
        },
    )
    service = keys[Role.SERVICE]
    first = client.post("/v1/transactions/score", json=tx(1), headers=service)
    assert first.status_code == 200, first.text
    decision = first.json()
    assert decision["outcome"] == "approve" and decision["transaction_id"] == "tx-1"
    assert decision["ruleset_version"] == "1" and "model_version" not in decision
    again = client.post("/v1/transactions/score", json=tx(1), headers=service)
    assert again.json() == decision  # the same answer, and the card's count did not move
    second = client.post("/v1/transactions/score", json=tx(2, minutes=1), headers=service).json()
    assert second["outcome"] == "review" and second["rules_hit"] == ["second_in_10m"]
    stored = client.get("/v1/decisions/tx-2", headers=keys[Role.VIEWER])
    assert stored.json()["outcome"] == "review"
    assert client.get("/v1/decisions/nope", headers=keys[Role.VIEWER]).status_code == 404


def test_bad_requests_name_the_field(client: TestClient, keys: Keys) -> None:
    service = keys[Role.SERVICE]
    cases = [
        (tx(1, amount="lots"), "amount", "decimal"),
        (tx(1, card="4111111111111112"), "card.number", "Luhn"),
        ({**tx(1), "currency": "EURO"}, None, "ISO 4217"),
        ({k: v for k, v in tx(1).items() if k != "event_time"}, None, "event_time"),
    ]
    for body, field, words in cases:
        response = client.post("/v1/transactions/score", json=body, headers=service)
        assert response.status_code == 422, body
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert words in problem["detail"], problem
        if field is not None:
            assert problem["field"] == field
    broken = client.post("/v1/transactions/score", content=b"{not json", headers=service)
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["detail"]
    batch = client.post(
        "/v1/transactions/score:batch",
        json={"transactions": [tx(1), tx(2, amount="x")]},
        headers=service,
    )
    assert batch.status_code == 422 and batch.json()["field"] == "transactions[1].amount"


def test_batch_scoring_keeps_the_order(client: TestClient, keys: Keys) -> None:
    publish(client, keys, {"name": "big", "condition": "amount > 500", "action": "block"})
    body = {
        "transactions": [
            tx(i, amount="900.00" if i % 3 == 0 else "10.00", minutes=i) for i in range(9)
        ]
    }
    response = client.post("/v1/transactions/score:batch", json=body, headers=keys[Role.SERVICE])
    assert response.status_code == 200, response.text
    decisions = response.json()["decisions"]
    assert [d["transaction_id"] for d in decisions] == [f"tx-{i}" for i in range(9)]
    assert [d["outcome"] for d in decisions] == [
        "block" if i % 3 == 0 else "approve" for i in range(9)
    ]
    metrics = client.get("/metrics").text
    assert 'fraudwatch_decisions_total{outcome="block"} 3.0' in metrics
    assert "fraudwatch_stage_seconds_bucket" in metrics


def test_single_requests_are_counted_once_each(client: TestClient, keys: Keys) -> None:
    """Outcomes and rule hits of single requests are counted by their batch, once each (a
    repeat answered again counts again: the counters count answers)."""
    publish(client, keys, {"name": "big", "condition": "amount > 500", "action": "block"})
    for i, amount in enumerate(("900.00", "10.00", "10.00")):
        body = tx(i, amount=amount, minutes=i)
        answer = client.post("/v1/transactions/score", json=body, headers=keys[Role.SERVICE])
        assert answer.status_code == 200, answer.text
    again = client.post("/v1/transactions/score", json=tx(0, amount="900.00", minutes=0),
                        headers=keys[Role.SERVICE])  # fmt: skip
    assert again.json()["outcome"] == "block"
    metrics = client.get("/metrics").text
    assert 'fraudwatch_decisions_total{outcome="block"} 2.0' in metrics
    assert 'fraudwatch_decisions_total{outcome="approve"} 2.0' in metrics
    assert 'fraudwatch_rule_hits_total{rule="big",shadow="false"} 2.0' in metrics


def test_a_malicious_rule_is_refused_and_a_published_rule_applies_at_once(
    client: TestClient, keys: Keys
) -> None:
    analyst = keys[Role.ANALYST]
    evil = {
        "rules": [{"name": "evil", "condition": "__import__('os').system('id')", "action": "block"}]
    }
    version = client.post("/v1/rule-sets", json=evil, headers=analyst).json()["version"]
    refused = client.post(f"/v1/rule-sets/{version}/publish", json={}, headers=keys[Role.ADMIN])
    assert refused.status_code == 422
    assert "attribute access" in refused.json()["problems"]["evil"]
    check = client.post(
        "/v1/rules/validate", json={"condition": "amount > 'x'"}, headers=analyst
    ).json()
    assert check == {
        "valid": False,
        "problem": "cannot compare a number with a string",
        "column": 9,
    }

    service = keys[Role.SERVICE]
    assert (
        client.post("/v1/transactions/score", json=tx(1, amount="300.00"), headers=service).json()[
            "outcome"
        ]
        == "approve"
    )
    publish(client, keys, {"name": "over_200", "condition": "amount > 200", "action": "step_up"})
    decided = client.post(
        "/v1/transactions/score", json=tx(2, amount="300.00", minutes=1), headers=service
    ).json()
    assert decided["outcome"] == "step_up" and decided["reasons"] == ["rule over_200"]
    assert client.get("/v1/rule-sets/active", headers=keys[Role.VIEWER]).json()["version"] == 2


def test_lists_tokenise_card_numbers_and_block(client: TestClient, keys: Keys) -> None:
    publish(
        client,
        keys,
        {"name": "listed", "condition": "card_token in blocked_cards", "action": "block"},
        lists=["blocked_cards"],
    )
    added = client.post(
        "/v1/lists/blocked_cards",
        json={"values": ["4111 1111 1111 1111"], "note": "stolen"},
        headers=keys[Role.ANALYST],
    )
    assert added.json() == {"added": 1}
    values = client.get("/v1/lists/blocked_cards", headers=keys[Role.ANALYST]).json()["values"]
    assert values and values[0].startswith("tok_")  # never the number itself
    assert (
        client.post("/v1/transactions/score", json=tx(1), headers=keys[Role.SERVICE]).json()[
            "outcome"
        ]
        == "block"
    )
    assert client.get("/v1/lists", headers=keys[Role.VIEWER]).json() == {"blocked_cards": 1}


def test_thresholds_labels_logins_keys_and_audit(client: TestClient, keys: Keys) -> None:
    admin = keys[Role.ADMIN]
    assert client.get("/v1/policy/thresholds", headers=admin).json()["source"] == "configuration"
    bad = client.put(
        "/v1/policy/thresholds", json={"review": 0.8, "step_up": 0.5, "block": 0.9}, headers=admin
    )
    assert bad.status_code == 422 and "must increase" in bad.json()["detail"]
    ok = client.put(
        "/v1/policy/thresholds", json={"review": 0.2, "step_up": 0.5, "block": 0.8}, headers=admin
    )
    assert ok.json()["source"] == "admin"
    assert client.get("/v1/policy/thresholds", headers=keys[Role.VIEWER]).json()["review"] == 0.2

    client.post("/v1/transactions/score", json=tx(1), headers=keys[Role.SERVICE])
    label = {
        "transaction_id": "tx-1",
        "is_fraud": True,
        "event_time": T0.isoformat(),
        "known_at": (T0 + timedelta(days=2)).isoformat(),
    }
    assert client.post(
        "/v1/labels", json={"labels": [label]}, headers=keys[Role.ANALYST]
    ).json() == {"accepted": 1}
    login = {
        "login_id": "l-1",
        "customer_id": "cust-1",
        "event_time": T0.isoformat(),
        "country": "NL",
    }
    assessed = client.post("/v1/logins", json=login, headers=keys[Role.SERVICE]).json()
    assert assessed["risk"] == 0.0 and assessed["customer_id"] == "cust-1"

    created = client.post(
        "/v1/api-keys", json={"role": "viewer", "name": "dashboard"}, headers=admin
    ).json()
    viewer = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/v1/lists", headers=viewer).status_code == 200
    assert client.delete(f"/v1/api-keys/{created['key_id']}", headers=admin).status_code == 200
    assert client.get("/v1/lists", headers=viewer).status_code == 401
    actions = [entry["action"] for entry in client.get("/v1/audit", headers=admin).json()]
    assert actions[:3] == ["api_key.revoke", "api_key.create", "setting.set"]


def test_the_openapi_document_describes_the_events(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "/v1/transactions/score" in document["paths"]
    assert {"Transaction", "Decision", "Login", "ScoreBatch"} <= set(
        document["components"]["schemas"]
    )
    body = document["paths"]["/v1/transactions/score"]["post"]["requestBody"]
    assert (
        body["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Transaction"
    )


def test_concurrent_single_requests_are_scored_together_and_answered_each(
    client: TestClient, keys: Keys
) -> None:
    import asyncio

    from fraudwatch.api.fastpath import Batcher
    from fraudwatch.api.scoring import parse_one

    publish(client, keys, {"name": "big", "condition": "amount > 500", "action": "block"})
    service = client.app.state.service  # type: ignore[attr-defined]
    batcher = Batcher(service, max_batch=8)
    bodies = [
        tx(i, amount="900.00" if i % 4 == 0 else "10.00", minutes=i, card=card)
        for i, card in enumerate(["4111111111111111", "5555555555554444"] * 10)
    ]

    async def all_at_once() -> list[Any]:
        import json

        txs = [parse_one(service, json.dumps(body).encode()) for body in bodies]
        return list(await asyncio.gather(*(batcher.score(t) for t in txs)))

    decisions = asyncio.run(all_at_once())
    assert (batcher.batches, batcher.scored) == (3, 20)  # 8 + 8 + 4: arrived together
    assert [d.transaction_id for d in decisions] == [f"tx-{i}" for i in range(20)]
    assert [d.outcome.value for d in decisions] == [
        "block" if i % 4 == 0 else "approve" for i in range(20)
    ]
    # A repeated request gets the first decision back, even inside one batch.
    again = asyncio.run(all_at_once())
    assert [d.decided_at for d in again] == [d.decided_at for d in decisions]
    service_key = keys[Role.SERVICE]
    lone = client.post("/v1/transactions/score", json=tx(99, minutes=30), headers=service_key)
    assert lone.status_code == 200 and lone.json()["outcome"] == "approve"


def test_once_requests_come_together_a_group_waits_the_linger_for_more(
    client: TestClient,
) -> None:
    """A lone request is scored at once; after a group of several, the next group waits
    `linger_s` for the requests arriving meanwhile and takes them all."""
    import asyncio
    import json
    import time

    from fraudwatch.api.fastpath import Batcher
    from fraudwatch.api.scoring import parse_one

    service = client.app.state.service  # type: ignore[attr-defined]
    batcher = Batcher(service, linger_s=0.2)
    txs = [parse_one(service, json.dumps(tx(200 + i, minutes=40 + i)).encode()) for i in range(5)]

    async def scenario() -> list[float]:
        waited = []
        started = time.perf_counter()
        await batcher.score(txs[0])  # alone: at once
        waited.append(time.perf_counter() - started)
        await asyncio.gather(batcher.score(txs[1]), batcher.score(txs[2]))  # together
        started = time.perf_counter()
        first = asyncio.ensure_future(batcher.score(txs[3]))
        await asyncio.sleep(0.05)  # arrives within the linger: joins the first
        await asyncio.gather(first, batcher.score(txs[4]))
        waited.append(time.perf_counter() - started)
        return waited

    alone, lingered = asyncio.run(scenario())
    assert alone < 0.15 <= lingered
    assert (batcher.batches, batcher.scored) == (3, 5)  # 1, then 2, then 2 after the linger
