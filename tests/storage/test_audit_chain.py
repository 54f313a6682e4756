"""The audit log is a hash chain: any edit, insertion or deletion is found and named."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import create_engine, text

from fraudwatch.control import ControlPlane, Role
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.storage import EventStore
from fraudwatch.storage.urls import sqlalchemy_url


@pytest.fixture
def control(store: EventStore, keyring: KeyRing) -> ControlPlane:
    plane = ControlPlane(store.engine, keyring, CardTokenizer(b"k" * 32))
    for i in range(5):
        plane.add_to_list("blocked_ips", [f"10.0.0.{i}"], by=f"analyst {i}", note="seen in a ring")
    plane.create_api_key(role=Role.VIEWER, name="dashboard", by="admin")
    plane.record(actor="ana", action="data.export", target="transactions", rows=120)
    return plane


def _sql(url: str, statement: str) -> None:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def test_an_untouched_chain_verifies(control: ControlPlane) -> None:
    result = control.verify_audit()
    assert result.ok and result.entries == 7
    entries = control.audit()
    assert [e.seq for e in entries] == [7, 6, 5, 4, 3, 2, 1]
    assert all(newer.prev_hash == older.hash for newer, older in itertools.pairwise(entries))


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "problem"),
    [
        ("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3", 3, "entry 3 was edited"),
        ("DELETE FROM audit_log WHERE seq = 4", 4, "entry 4 is missing"),
        ("DELETE FROM audit_log WHERE seq = 7", 7, "entries after 6 were deleted"),
        (
            "INSERT INTO audit_log (at, actor, action, target, seq, prev_hash, hash) "
            "SELECT at, 'forger', 'rule_set.publish', 'x', 8, hash, hash FROM audit_log "
            "WHERE seq = 7",
            8,
            "entry 8 was edited",
        ),
        ("UPDATE audit_log SET details = NULL WHERE seq = 1", 1, "entry 1 was edited"),
    ],
)
def test_tampering_is_found(
    control: ControlPlane, store_url: str, tamper: str, bad_seq: int, problem: str
) -> None:
    _sql(store_url, tamper)
    result = control.verify_audit()
    assert not result.ok
    assert (result.bad_seq, result.problem) == (bad_seq, problem)


def test_an_entry_appended_with_a_valid_hash_but_behind_the_heads_back_is_found(
    control: ControlPlane, store_url: str
) -> None:
    from fraudwatch.control.audit import entry_hash

    last = control.audit(limit=1)[0]
    forged = entry_hash(last.hash, 8, last.at, "forger", "x", "y", None)
    _sql(
        store_url,
        "INSERT INTO audit_log (at, actor, action, target, seq, prev_hash, hash) "
        f"SELECT at, 'forger', 'x', 'y', 8, hash, '{forged}' FROM audit_log WHERE seq = 7",
    )
    result = control.verify_audit()
    assert (result.ok, result.bad_seq, result.problem) == (
        False,
        8,
        "entry 8 was added outside the chain",
    )
