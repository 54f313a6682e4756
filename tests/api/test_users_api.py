"""People log in with a password and, for admins and analysts, a TOTP second factor (recovery
codes as a fallback); sessions end at logout or when the user is disabled; repeated failures
lock the account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import update

from fraudwatch.bootstrap import Container
from fraudwatch.control.repository import Role
from fraudwatch.storage import tables as t
from fraudwatch.users.service import UserRole, UserService

PASSWORD = "correct horse battery"
Keys = dict[Role, dict[str, str]]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_an_admin_enrols_totp_then_logs_in_with_it_or_a_recovery_code(
    client: TestClient, container: Container
) -> None:
    UserService(container.store.engine, container.keyring).create(
        "alice", UserRole.ADMIN, PASSWORD, by="t"
    )
    first = _login(client, "alice")
    assert first["second_factor"] == "required"
    session = _bearer(first["session"])
    blocked = client.get("/v1/rule-sets", headers=session)
    assert blocked.status_code == 403 and "second factor" in blocked.json()["detail"]
    uri = client.post("/v1/auth/totp", headers=session).json()["otpauth_uri"]
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    codes = client.post("/v1/auth/totp/confirm", json={"code": totp.now()}, headers=session).json()
    assert len(codes["recovery_codes"]) == 10
    assert client.get("/v1/rule-sets", headers=session).status_code == 200
    client.post("/v1/auth/logout", headers=session)
    assert client.get("/v1/rule-sets", headers=session).status_code == 401

    second = _bearer(_login(client, "alice")["session"])
    assert client.post("/v1/auth/mfa", json={"code": "000000"}, headers=second).status_code == 401
    recovery = codes["recovery_codes"][0]
    assert client.post("/v1/auth/mfa", json={"code": recovery}, headers=second).status_code == 200
    assert client.get("/v1/audit", headers=second).status_code == 200
    third = _bearer(_login(client, "alice")["session"])
    assert client.post("/v1/auth/mfa", json={"code": recovery}, headers=third).status_code == 401
    assert client.post("/v1/auth/mfa", json={"code": totp.now()}, headers=third).status_code == 200


def test_viewers_read_but_cannot_act_and_disabled_users_are_out(
    client: TestClient, container: Container, keys: Keys
) -> None:
    created = client.post(
        "/v1/users", json={"username": "vic", "role": "viewer", "password": PASSWORD},
        headers=keys[Role.ADMIN],
    )  # fmt: skip
    assert created.status_code == 201
    refused = client.post(
        "/v1/users", json={"username": "x", "role": "admin", "password": PASSWORD},
        headers=keys[Role.ANALYST],
    )  # fmt: skip
    assert refused.status_code == 403
    login = _login(client, "vic")
    assert login["second_factor"] == "none"
    viewer = _bearer(login["session"])
    assert client.get("/v1/cases", headers=viewer).status_code == 200
    move = client.post("/v1/cases/1/transition", json={"to": "investigating"}, headers=viewer)
    assert move.status_code == 403
    client.post("/v1/users/vic/disable", headers=keys[Role.ADMIN])
    assert client.get("/v1/cases", headers=viewer).status_code == 401
    assert (
        client.post("/v1/auth/login", json={"username": "vic", "password": PASSWORD}).status_code
        == 401
    )


def test_five_wrong_passwords_lock_the_account(client: TestClient, container: Container) -> None:
    UserService(container.store.engine, container.keyring).create(
        "bob", UserRole.VIEWER, PASSWORD, by="t"
    )
    for _ in range(5):
        wrong = client.post("/v1/auth/login", json={"username": "bob", "password": "not the one!"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong username or password"
    locked = client.post("/v1/auth/login", json={"username": "bob", "password": PASSWORD})
    assert locked.status_code == 401 and "locked" in locked.json()["detail"]
    nobody = client.post("/v1/auth/login", json={"username": "nobody", "password": PASSWORD})
    assert nobody.json()["detail"] == "wrong username or password"  # no hint who exists


def test_sessions_expire_and_a_lockout_ends(client: TestClient, container: Container) -> None:
    UserService(container.store.engine, container.keyring).create(
        "vic", UserRole.VIEWER, PASSWORD, by="t"
    )
    session = _bearer(_login(client, "vic")["session"])
    assert client.get("/v1/cases", headers=session).status_code == 200
    past = datetime.now(UTC) - timedelta(seconds=1)
    with container.store.engine.begin() as conn:
        conn.execute(
            update(t.sessions).where(t.sessions.c.username == "vic").values(expires_at=past)
        )
    expired = client.get("/v1/cases", headers=session)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]

    for _ in range(5):
        client.post("/v1/auth/login", json={"username": "vic", "password": "not the one!"})
    locked = client.post("/v1/auth/login", json={"username": "vic", "password": PASSWORD})
    assert locked.status_code == 401 and "locked" in locked.json()["detail"]
    with container.store.engine.begin() as conn:  # the 15 minutes are over
        conn.execute(update(t.users).where(t.users.c.username == "vic").values(locked_until=past))
    assert _login(client, "vic")["second_factor"] == "none"


def test_me_lists_what_the_caller_may_do(client: TestClient, keys: Keys) -> None:
    viewer = client.get("/v1/auth/me", headers=keys[Role.VIEWER]).json()
    assert viewer == {
        "username": "test-viewer", "kind": "key", "role": "viewer",
        "permissions": ["cases.read", "read"],
    }  # fmt: skip
    analyst = client.get("/v1/auth/me", headers=keys[Role.ANALYST]).json()["permissions"]
    assert "cases.act" in analyst and "rules.publish" not in analyst
    assert client.get("/v1/auth/me").status_code == 401
