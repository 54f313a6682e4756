"""The permission matrix: every endpoint and every role. A role not listed for an endpoint gets
403 before anything else happens; a listed role gets past the check (whatever the answer to its
empty request is). Every route of the app must be in the table, so a new endpoint cannot ship
without deciding who may call it."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from fraudwatch.control.repository import Role

A, N, S, V = Role.ADMIN, Role.ANALYST, Role.SERVICE, Role.VIEWER
EVERYONE = {A, N, S, V}
MATRIX: dict[tuple[str, str], set[Role]] = {
    ("POST", "/v1/transactions/score"): {S, A},
    ("POST", "/v1/transactions/score:batch"): {S, A},
    ("POST", "/v1/labels"): {S, N, A},
    ("POST", "/v1/logins"): {S, A},
    ("GET", "/v1/decisions/{transaction_id}"): EVERYONE,
    ("GET", "/v1/rule-sets"): EVERYONE,
    ("POST", "/v1/rule-sets"): {N, A},
    ("GET", "/v1/rule-sets/active"): EVERYONE,
    ("GET", "/v1/rule-sets/{version}"): EVERYONE,
    ("PUT", "/v1/rule-sets/{version}"): {N, A},
    ("POST", "/v1/rule-sets/{version}/publish"): {A},
    ("POST", "/v1/rule-sets/{version}/activate"): {A},
    ("POST", "/v1/rules/validate"): EVERYONE,
    ("GET", "/v1/lists"): EVERYONE,
    ("GET", "/v1/lists/{name}"): {N, A},
    ("POST", "/v1/lists/{name}"): {N, A},
    ("POST", "/v1/lists/{name}/remove"): {N, A},
    ("GET", "/v1/policy/thresholds"): EVERYONE,
    ("PUT", "/v1/policy/thresholds"): {A},
    ("POST", "/v1/api-keys"): {A},
    ("GET", "/v1/api-keys"): {A},
    ("DELETE", "/v1/api-keys/{key_id}"): {A},
    ("GET", "/v1/audit"): {A},
    ("GET", "/v1/cases"): EVERYONE,
    ("GET", "/v1/cases/{case_id}"): EVERYONE,
    ("POST", "/v1/cases/{case_id}/assign"): {N, A},
    ("POST", "/v1/cases/{case_id}/transition"): {N, A},
    ("POST", "/v1/cases/{case_id}/notes"): {N, A},
    ("POST", "/v1/cases:bulk"): {N, A},
    ("POST", "/v1/users"): {A},
    ("GET", "/v1/users"): {A},
    ("POST", "/v1/users/{username}/disable"): {A},
    ("POST", "/v1/users/{username}/reset-second-factor"): {A},
    ("POST", "/v1/step-up/{transaction_id}"): {S, A},
    ("POST", "/v1/step-up/{transaction_id}/verify"): {S, A},
    ("GET", "/v1/auth/me"): EVERYONE,
    ("POST", "/v1/customers/{customer_id}/passkeys/register/options"): {S, A},
    ("POST", "/v1/customers/{customer_id}/passkeys/register"): {S, A},
    ("DELETE", "/v1/customers/{customer_id}/passkeys/{credential_id}"): {S, A},
    # the dashboard's reads and the rule backtest
    ("GET", "/v1/decisions"): EVERYONE,
    ("GET", "/v1/stream/decisions"): EVERYONE,
    ("GET", "/v1/decisions/{transaction_id}/detail"): EVERYONE,
    ("GET", "/v1/timeline"): EVERYONE,
    ("GET", "/v1/logins"): EVERYONE,
    ("GET", "/v1/analytics/summary"): EVERYONE,
    ("GET", "/v1/analytics/geo"): EVERYONE,
    ("GET", "/v1/analytics/trends"): EVERYONE,
    ("GET", "/v1/analytics/breakdown"): EVERYONE,
    ("GET", "/v1/analytics/model-performance"): EVERYONE,
    ("GET", "/v1/analytics/scores"): EVERYONE,
    ("GET", "/v1/analytics/rules"): EVERYONE,
    ("GET", "/v1/models"): EVERYONE,
    ("POST", "/v1/rules/backtest"): {N, A},
}
STREAMS = {"/v1/stream/decisions"}  # answered by its status line, then closed
PUBLIC = {
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/mfa"),
    ("POST", "/v1/auth/totp"),
    ("POST", "/v1/auth/totp/confirm"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/passkeys/register/options"),  # these act on the caller's own session
    ("POST", "/v1/auth/passkeys/register"),
    ("POST", "/v1/auth/passkeys/login/options"),
    ("POST", "/v1/auth/passkeys/login"),
    ("GET", "/v1/auth/passkeys"),
    ("DELETE", "/v1/auth/passkeys/{credential_id}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}
SAMPLE = {"{transaction_id}": "tx-1", "{version}": "1", "{name}": "blocked_cards",
          "{key_id}": "k1", "{case_id}": "1", "{username}": "u1", "{customer_id}": "C1",
          "{credential_id}": "cred1"}  # fmt: skip


def test_every_route_is_in_the_matrix(client: TestClient) -> None:
    routes = {
        (method, route.path)
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    documented = {
        (method.upper(), path)
        for path, item in client.get("/openapi.json").json()["paths"].items()
        for method in item
    }
    assert routes | documented == set(MATRIX) | PUBLIC


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_each_role_is_allowed_or_refused(
    client: TestClient, keys: dict[Role, dict[str, str]], method: str, path: str
) -> None:
    url = path
    for placeholder, value in SAMPLE.items():
        url = url.replace(placeholder, value)
    for role in Role:
        if path in STREAMS:
            with client.stream(method, url, headers=keys[role]) as response:
                pass
        else:
            response = client.request(method, url, json={}, headers=keys[role])
        if role in MATRIX[(method, path)]:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.status_code, response.text)
    assert client.request(method, url, json={}).status_code == 401
