"""The control plane on both databases: rule set versions, named lists, API keys — every change
audited and revisioned in the same transaction."""

from __future__ import annotations

import pytest

from fraudwatch.control import ControlError, ControlPlane, Role
from fraudwatch.errors import NotFoundError
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.rules import Action, Rule, RuleSet, RuleSetError, Status, vocabulary
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.storage import EventStore
from tests.storage.conftest import raw_rows

VOCAB = vocabulary(default_feature_set(), {"blocked_cards"})
RULES = (
    Rule("big", "amount > 500", Action.REVIEW, 20),
    Rule("listed", "card_token in blocked_cards", Action.BLOCK, 100),
)


@pytest.fixture
def control(store: EventStore, keyring: KeyRing) -> ControlPlane:
    return ControlPlane(store.engine, keyring, CardTokenizer(b"k" * 32))


def test_drafts_change_published_versions_do_not(control: ControlPlane) -> None:
    assert control.next_version() == 1
    draft = RuleSet(1, RULES[:1], lists=frozenset({"blocked_cards"}))
    control.save_draft(draft, by="ana")
    control.save_draft(draft.with_rules(RULES), by="ana")  # a draft can be replaced
    assert control.rule_set(1).rules == RULES
    assert control.active_rule_set() is None

    published = control.publish(1, VOCAB, by="bob")
    assert published.status is Status.PUBLISHED
    stored = control.rule_set(1)
    assert stored.status is Status.PUBLISHED and stored.published_by == "bob"
    assert stored.digest == draft.with_rules(RULES).digest
    assert control.active_rule_set() == stored  # publishing activates by default
    with pytest.raises(RuleSetError, match="published and cannot change"):
        control.save_draft(RuleSet(1, RULES[:1]), by="eve")
    with pytest.raises(ControlError):
        control.save_draft(stored, by="eve")

    control.save_draft(stored.draft(2).with_rules(RULES[:1]), by="ana")
    with pytest.raises(RuleSetError, match="draft: publish it first"):
        control.activate(2, by="ana")
    control.publish(2, VOCAB, by="bob", activate=False)
    assert control.active_rule_set() is not None and control.active_rule_set().version == 1  # type: ignore[union-attr]
    control.activate(2, by="bob")
    assert control.active_rule_set().version == 2  # type: ignore[union-attr]
    control.activate(1, by="bob")  # a rollback is an activation of an older version
    assert control.active_rule_set().version == 1  # type: ignore[union-attr]
    assert [rs.version for rs in control.rule_sets()] == [1, 2]
    with pytest.raises(NotFoundError):
        control.rule_set(9)


def test_an_invalid_draft_cannot_be_published(control: ControlPlane) -> None:
    control.save_draft(RuleSet(1, (Rule("evil", "__import__('os')"),)), by="eve")
    with pytest.raises(RuleSetError) as info:
        control.publish(1, VOCAB, by="eve")
    assert "calling '__import__' is not allowed" in info.value.problems["evil"]
    assert control.rule_set(1).status is Status.DRAFT


def test_every_change_is_audited_and_bumps_its_revision(control: ControlPlane) -> None:
    assert control.revisions() == {}
    control.save_draft(RuleSet(1, RULES, lists=frozenset({"blocked_cards"})), by="ana")
    control.publish(1, VOCAB, by="bob")
    control.add_to_list("blocked_cards", ["tok_1"], by="ana", note="issuer report")
    key, _ = control.create_api_key(role=Role.SERVICE, name="gateway", by="admin")
    assert control.revisions() == {"rules": 3, "lists": 1, "api_keys": 1}
    entries = control.audit()
    assert [(e.actor, e.action) for e in entries] == [
        ("admin", "api_key.create"),
        ("ana", "list.add"),
        ("bob", "rule_set.activate"),
        ("bob", "rule_set.publish"),
        ("ana", "rule_set.save_draft"),
    ]
    assert entries[0].target == f"api_key:{key.key_id}"
    assert entries[1].details == {"added": 1, "note": "issuer report"}


def test_named_lists_are_encrypted_at_rest(control: ControlPlane, store_url: str) -> None:
    assert (
        control.add_to_list("blocked_emails", ["erika@example.org", "x@y.z", "x@y.z"], by="a") == 2
    )
    assert control.add_to_list("blocked_emails", ["x@y.z"], by="a") == 0
    assert control.lists() == {"blocked_emails": frozenset({"erika@example.org", "x@y.z"})}
    stored = raw_rows(store_url, "SELECT value_key, value_enc FROM list_entries")
    assert len(stored) == 2
    for value_key, blob in stored:
        assert b"example.org" not in bytes(blob) and "example" not in value_key
    assert control.remove_from_list("blocked_emails", ["x@y.z", "nope"], by="a") == 1
    assert control.lists() == {"blocked_emails": frozenset({"erika@example.org"})}


def test_api_keys_authenticate_until_revoked(control: ControlPlane, store_url: str) -> None:
    key, token = control.create_api_key(role=Role.ANALYST, name="ana's laptop", by="admin")
    assert token.startswith(f"fwk_{key.key_id}_")
    assert control.authenticate(token) == key
    assert control.authenticate(token + "x") is None
    assert control.authenticate("Bearer nonsense") is None
    secret = token.split("_", 2)[2]  # the secret itself may contain "_"
    assert all(secret not in str(row) for row in raw_rows(store_url, "SELECT * FROM api_keys"))
    assert [k.key_id for k in control.api_keys()] == [key.key_id]
    control.revoke_api_key(key.key_id, by="admin")
    assert control.authenticate(token) is None
    with pytest.raises(NotFoundError):
        control.revoke_api_key(key.key_id, by="admin")
