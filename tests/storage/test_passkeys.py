"""Passkey ceremonies on both databases: a stored credential signs in, its counter only moves
forward, a challenge is answered once and not after it expired, owners do not share keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from fraudwatch.errors import NotFoundError
from fraudwatch.storage import EventStore
from fraudwatch.storage import tables as t
from fraudwatch.storage.writing import writing
from fraudwatch.users.passkeys import PasskeyError, Passkeys, RelyingParty
from tests.api.authenticator import SoftwareAuthenticator


def test_register_then_sign_in_with_a_counter_that_only_moves_forward(store: EventStore) -> None:
    passkeys = Passkeys(store.engine)
    key = SoftwareAuthenticator()
    with writing(store.engine) as conn:
        options = passkeys.registration_options(conn, owner="user:ana", name="ana", subject="s1")
    with writing(store.engine) as conn:
        stored = passkeys.register(
            conn, owner="user:ana", subject="s1", credential=key.create(options)
        )
    assert (stored.credential_id, stored.transports) == (key.id, ["internal", "hybrid"])

    def sign_in(owner: str = "user:ana", counter: int | None = None) -> str:
        with writing(store.engine) as conn:
            asked = passkeys.authentication_options(conn, owner="user:ana", subject="s2")
        with writing(store.engine) as conn:
            return passkeys.authenticate(
                conn,
                owner=owner,
                subject="s2",
                credential=key.get(asked, counter=counter),
            )

    assert sign_in() == key.id
    assert sign_in() == key.id
    with pytest.raises(PasskeyError, match="signCount"):
        sign_in(counter=2)  # the stored counter is 2: a clone replays it
    with pytest.raises(PasskeyError, match="not a passkey of this account"):
        sign_in(owner="user:bob")
    (listed,) = passkeys.of("user:ana")
    assert listed.last_used_at is not None
    with (
        pytest.raises(NotFoundError, match="no passkey is registered"),
        writing(store.engine) as conn,
    ):
        passkeys.authentication_options(conn, owner="customer:C1", subject="s3")


def test_challenges_are_used_once_and_expire(store: EventStore) -> None:
    passkeys = Passkeys(store.engine, RelyingParty(origins=frozenset({"https://app.localhost"})))
    key = SoftwareAuthenticator(origin="https://app.localhost")
    with writing(store.engine) as conn:
        options = passkeys.registration_options(conn, owner="customer:C1", name="C1", subject="r")
    with store.engine.begin() as conn:
        conn.execute(
            update(t.webauthn_challenges).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    with pytest.raises(PasskeyError, match="expired"), writing(store.engine) as conn:
        passkeys.register(conn, owner="customer:C1", subject="r", credential=key.create(options))
    with writing(store.engine) as conn:
        options = passkeys.registration_options(conn, owner="customer:C1", name="C1", subject="r")
    other_origin = key.create(options, origin="http://localhost:8000")
    with pytest.raises(PasskeyError, match="origin"), writing(store.engine) as conn:
        passkeys.register(conn, owner="customer:C1", subject="r", credential=other_origin)
    with writing(store.engine) as conn:
        options = passkeys.registration_options(conn, owner="customer:C1", name="C1", subject="r")
    with writing(store.engine) as conn:
        passkeys.register(conn, owner="customer:C1", subject="r", credential=key.create(options))
    with (
        pytest.raises(PasskeyError, match="ask for the options first"),
        writing(store.engine) as conn,  # answered once already
    ):
        passkeys.register(conn, owner="customer:C1", subject="r", credential=key.create(options))
    assert [p.credential_id for p in passkeys.of("customer:C1")] == [key.id]
