"""Passkeys as the second factor, verified for real: a software authenticator (a real P-256
key) creates and signs what a browser would send, and the `webauthn` package checks it. A first
passkey completes the login and brings recovery codes; later logins finish with an assertion;
replays, clones (a counter that goes back), foreign origins and bad signatures are refused; a
password alone never adds or removes a factor; registering and removing are audited."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from fraudwatch.bootstrap import Container
from fraudwatch.control.repository import Role
from fraudwatch.users.service import UserRole, UserService
from tests.api.authenticator import SoftwareAuthenticator, b64url

PASSWORD = "correct horse battery"
Keys = dict[Role, dict[str, str]]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(client: TestClient, username: str) -> tuple[dict[str, str], dict[str, Any]]:
    response = client.post("/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return _bearer(body["session"]), body


def _user(container: Container, name: str = "ana", role: UserRole = UserRole.ANALYST) -> None:
    UserService(container.store.engine, container.keyring).create(name, role, PASSWORD, by="t")


def _enrol(client: TestClient, session: dict[str, str], key: SoftwareAuthenticator) -> Any:
    options = client.post("/v1/auth/passkeys/register/options", headers=session)
    assert options.status_code == 200, options.text
    assert options.json()["rp"]["id"] == "localhost"
    return client.post("/v1/auth/passkeys/register", json=key.create(options.json()),
                       headers=session)  # fmt: skip


def _assert(
    client: TestClient, session: dict[str, str], key: SoftwareAuthenticator, **how: Any
) -> Any:
    options = client.post("/v1/auth/passkeys/login/options", headers=session)
    assert options.status_code == 200, options.text
    return client.post("/v1/auth/passkeys/login", json=key.get(options.json(), **how),
                       headers=session)  # fmt: skip


def _audit_actions(client: TestClient, session: dict[str, str]) -> list[str]:
    return [entry["action"] for entry in client.get("/v1/audit", headers=session).json()]


def test_a_first_passkey_completes_the_login_and_later_logins_use_it(
    client: TestClient, container: Container
) -> None:
    _user(container)
    key = SoftwareAuthenticator()
    pending, body = _login(client, "ana")
    assert (body["second_factor"], body["methods"]) == ("required", [])
    assert client.get("/v1/cases", headers=pending).status_code == 403
    registered = _enrol(client, pending, key)
    assert registered.status_code == 200, registered.text
    assert registered.json()["credential_id"] == key.id
    assert len(registered.json()["recovery_codes"]) == 10
    assert client.get("/v1/cases", headers=pending).status_code == 200  # now complete
    listed = client.get("/v1/auth/passkeys", headers=pending).json()
    assert [(p["credential_id"], p["transports"]) for p in listed] == [
        (key.id, ["internal", "hybrid"])
    ]

    session, body = _login(client, "ana")
    assert (body["second_factor"], body["methods"]) == ("required", ["passkey"])
    assert client.get("/v1/cases", headers=session).status_code == 403
    done = _assert(client, session, key)
    assert done.status_code == 200, done.text
    assert done.json() == {"username": "ana", "role": "analyst", "complete": True}
    assert client.get("/v1/cases", headers=session).status_code == 200
    assert client.get("/v1/auth/passkeys", headers=session).json()[0]["last_used_at"]

    again, _ = _login(client, "ana")  # a recovery code still works for a passkey-only user
    code = registered.json()["recovery_codes"][0]
    assert client.post("/v1/auth/mfa", json={"code": code}, headers=again).status_code == 200


def test_replays_clones_foreign_origins_and_forged_signatures_are_refused(
    client: TestClient, container: Container
) -> None:
    _user(container)
    key = SoftwareAuthenticator()
    first, _ = _login(client, "ana")
    assert _enrol(client, first, key).status_code == 200

    session, _ = _login(client, "ana")
    options = client.post("/v1/auth/passkeys/login/options", headers=session).json()
    assertion = key.get(options)
    assert (
        client.post("/v1/auth/passkeys/login", json=assertion, headers=session).status_code == 200
    )
    other, _ = _login(client, "ana")
    replay = client.post("/v1/auth/passkeys/login", json=assertion, headers=other)
    assert replay.status_code == 401 and "ask for the options first" in replay.json()["detail"]

    cloned = _assert(client, other, key, counter=1)  # the stored counter is 1 already
    assert cloned.status_code == 401 and "signCount" in cloned.json()["detail"]
    phishing = _assert(client, other, key, origin="https://localhost.evil.example")
    assert phishing.status_code == 401 and "origin" in phishing.json()["detail"]

    options = client.post("/v1/auth/passkeys/login/options", headers=other).json()
    forged = key.get(options)  # signed by another key
    forged["response"]["signature"] = b64url(
        SoftwareAuthenticator().key.sign(b"the same bytes", ec.ECDSA(hashes.SHA256()))
    )
    refused = client.post("/v1/auth/passkeys/login", json=forged, headers=other)
    assert refused.status_code == 401 and "signature" in refused.json()["detail"]
    stranger = _assert(client, other, key)  # the genuine key still works afterwards
    assert stranger.status_code == 200, stranger.text
    assert client.get("/v1/cases", headers=other).status_code == 200


def test_a_password_alone_neither_adds_nor_removes_a_factor_and_changes_are_audited(
    client: TestClient, container: Container
) -> None:
    _user(container, "ada", UserRole.ADMIN)
    key, spare = SoftwareAuthenticator(), SoftwareAuthenticator()
    first, _ = _login(client, "ada")
    assert _enrol(client, first, key).status_code == 200

    pending, _ = _login(client, "ada")  # someone who knows only the password
    refused = client.post("/v1/auth/passkeys/register/options", headers=pending)
    assert refused.status_code == 401 and "second factor first" in refused.json()["detail"]
    assert client.post("/v1/auth/totp", headers=pending).status_code == 401
    assert client.delete(f"/v1/auth/passkeys/{key.id}", headers=pending).status_code == 401

    assert _assert(client, pending, key).status_code == 200
    again = _enrol(client, pending, key)  # the same authenticator twice
    assert again.status_code == 400 and "registered already" in again.json()["detail"]
    added = _enrol(client, pending, spare)
    assert added.status_code == 200 and added.json()["recovery_codes"] is None
    wrong_rp = client.post("/v1/auth/passkeys/register/options", headers=pending).json()
    third = SoftwareAuthenticator()
    bad = client.post("/v1/auth/passkeys/register", headers=pending,
                      json=third.create(wrong_rp, rp_id="evil.example"))  # fmt: skip
    assert bad.status_code == 400 and "RP ID" in bad.json()["detail"]
    assert client.delete(f"/v1/auth/passkeys/{key.id}", headers=pending).status_code == 200
    assert client.delete(f"/v1/auth/passkeys/{key.id}", headers=pending).status_code == 404
    assert [
        p["credential_id"] for p in client.get("/v1/auth/passkeys", headers=pending).json()
    ] == [spare.id]
    actions = _audit_actions(client, pending)
    assert actions[:3] == ["user.passkey_removed", "user.passkey_registered",
                           "user.passkey_registered"]  # fmt: skip
    me = client.get("/v1/auth/me", headers=pending).json()
    assert (me["username"], me["role"], "users.admin" in me["permissions"]) == (
        "ada",
        "admin",
        True,
    )


def test_an_admin_resets_the_second_factor_of_a_user_who_lost_their_device(
    client: TestClient, container: Container, keys: Keys
) -> None:
    _user(container)
    key = SoftwareAuthenticator()
    first, _ = _login(client, "ana")
    assert _enrol(client, first, key).status_code == 200
    refused = client.post("/v1/users/ana/reset-second-factor", headers=keys[Role.ANALYST])
    assert refused.status_code == 403
    reset = client.post("/v1/users/ana/reset-second-factor", headers=keys[Role.ADMIN])
    assert reset.status_code == 200
    assert client.get("/v1/cases", headers=first).status_code == 401  # sessions ended
    pending, body = _login(client, "ana")
    assert (body["second_factor"], body["methods"]) == ("required", [])
    assert _enrol(client, pending, SoftwareAuthenticator()).status_code == 200  # a new device
    assert client.get("/v1/cases", headers=pending).status_code == 200
    actions = _audit_actions(client, keys[Role.ADMIN])
    assert actions[:2] == ["user.passkey_registered", "user.second_factor_reset"]


def test_the_relying_party_comes_from_the_settings(container: Container) -> None:
    from fraudwatch.api.app import create_app
    from fraudwatch.scoring.service import ScoringService
    from fraudwatch.settings import load_settings

    settings = load_settings(
        home=container.settings.home,
        warmup_days=0,
        webauthn_rp_id="fraud.example.com",
        webauthn_origins=["https://fraud.example.com"],
    )
    container.settings = settings
    app = create_app(ScoringService(container))
    for passkeys in (app.state.users.passkeys, app.state.step_up.passkeys):
        party = passkeys.relying_party
        assert party.rp_id == "fraud.example.com"
        assert party.check_origin("https://fraud.example.com") == "https://fraud.example.com"
    with TestClient(app) as client:
        _user(container)
        session, _ = _login(client, "ana")
        options = client.post("/v1/auth/passkeys/register/options", headers=session)
        assert options.json()["rp"]["id"] == "fraud.example.com"
