"""Cases through the API: opened by decisions, listed with filters and pages, worked and
resolved by analysts (never by viewers), labels written back."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from fraudwatch.control.repository import Role

Keys = dict[Role, dict[str, str]]


def _tx(i: int, card: str) -> dict[str, Any]:
    return {
        "transaction_id": f"tx-{i}", "event_time": f"2026-03-01T10:{i:02d}:00Z",
        "amount": "1500.00", "currency": "EUR", "card": {"token": "tok_" + card * 32},
        "customer_id": f"cust-{card}",
    }  # fmt: skip


def _wait_for_cases(client: TestClient, keys: Keys, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        cases: list[dict[str, Any]] = client.get("/v1/cases", headers=keys[Role.VIEWER]).json()[
            "cases"
        ]
        if len(cases) >= count:
            return cases
        time.sleep(0.05)
    raise AssertionError("the cases did not appear within 10 s")


def test_decisions_open_cases_that_analysts_resolve(client: TestClient, keys: Keys) -> None:
    admin = keys[Role.ADMIN]
    created = client.post(
        "/v1/rule-sets",
        json={"rules": [{"name": "big", "condition": "amount > 1000", "action": "review"}]},
        headers=admin,
    ).json()
    client.post(f"/v1/rule-sets/{created['version']}/publish", json={}, headers=admin)
    service = keys[Role.SERVICE]
    for i, card in enumerate("aabcd"):
        assert (
            client.post("/v1/transactions/score", json=_tx(i, card), headers=service).json()[
                "outcome"
            ]
            == "review"
        )
    cases = _wait_for_cases(client, keys, 4)
    assert len(cases) == 4 and sorted(c["decisions"] for c in cases) == [1, 1, 1, 2]

    first = client.get("/v1/cases?limit=3", headers=keys[Role.VIEWER]).json()
    second = client.get(
        f"/v1/cases?limit=3&after={first['next']}", headers=keys[Role.VIEWER]
    ).json()
    assert len(first["cases"]) == 3 and len(second["cases"]) == 1 and second["next"] is None
    card_a = client.get("/v1/cases?card_token=tok_" + "a" * 32, headers=keys[Role.VIEWER]).json()[
        "cases"
    ][0]

    path = f"/v1/cases/{card_a['id']}"
    resolve = {"to": "resolved", "disposition": "fraud"}
    assert (
        client.post(f"{path}/transition", json=resolve, headers=keys[Role.VIEWER]).status_code
        == 403
    )
    bad = client.post(f"{path}/transition", json={"to": "resolved"}, headers=keys[Role.ANALYST])
    assert bad.status_code == 409 and "needs a disposition" in bad.json()["detail"]
    client.post(
        f"{path}/notes", json={"text": "cardholder denies both"}, headers=keys[Role.ANALYST]
    )
    done = client.post(f"{path}/transition", json=resolve, headers=keys[Role.ANALYST]).json()
    assert done == {"status": "resolved", "labels_written": 2}
    detail = client.get(path, headers=keys[Role.VIEWER]).json()
    assert detail["status"] == "resolved" and detail["notes"][0]["text"] == "cardholder denies both"

    others = [c["id"] for c in cases if c["id"] != card_a["id"]]
    assigned = client.post(
        "/v1/cases:bulk", json={"ids": others, "action": "assign", "assignees": ["ana", "bob"]},
        headers=keys[Role.ANALYST],
    ).json()["assigned"]  # fmt: skip
    assert sorted(assigned.values()) == ["ana", "ana", "bob"]
    actions = [e["action"] for e in client.get("/v1/audit", headers=admin).json()]
    assert "case.transition" in actions and "case.note" in actions and "case.assign" in actions
