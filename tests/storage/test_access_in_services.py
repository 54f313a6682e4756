"""Permissions are checked inside the services, not only at the routes: a service called
directly with a role that lacks the permission refuses, changes nothing and audits nothing;
a role that holds it goes through. The table itself is checked against the issue's rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from fraudwatch.cases.service import CaseFilter, CaseService, Disposition, Status
from fraudwatch.control import ControlPlane
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.rules import Action, Rule, RuleSet, vocabulary
from fraudwatch.security.access import (
    Actor,
    Permission,
    PermissionDenied,
    Role,
    allowed,
    permissions,
    roles_for,
)
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.storage import EventStore
from fraudwatch.storage import tables as t
from fraudwatch.users.service import UserRole, UserService
from tests.conftest import make_transaction

VIEWER = Actor("vic (viewer)", Role.VIEWER)
ANALYST = Actor("ana (analyst)", Role.ANALYST)
ADMIN = Actor("ada (admin)", Role.ADMIN)
SERVICE = Actor("gateway (key k1, service)", Role.SERVICE)
VOCAB = vocabulary(default_feature_set(), set())


def _audited(store: EventStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.audit_log)).scalar_one())


def test_the_table_says_who_may_do_what() -> None:
    assert roles_for(Permission.CASES_ACT) == (Role.ADMIN, Role.ANALYST)
    assert roles_for(Permission.RULES_PUBLISH) == (Role.ADMIN,)
    assert roles_for(Permission.POLICY_EDIT) == (Role.ADMIN,)
    assert roles_for(Permission.SCORE) == (Role.ADMIN, Role.SERVICE)
    assert not allowed(Role.VIEWER, Permission.CASES_ACT)
    assert not allowed(Role.SERVICE, Permission.RULES_EDIT)
    assert permissions(Role.VIEWER) == ["cases.read", "read"]
    assert set(permissions(Role.ADMIN)) == {p.value for p in Permission}
    assert ANALYST == "ana (analyst)" and ANALYST.role is Role.ANALYST  # an audit name


def test_case_actions_need_cases_act(store: EventStore) -> None:
    cases = CaseService(store.engine)
    tx = make_transaction(transaction_id="tx-1", event_time=datetime(2026, 2, 1, tzinfo=UTC))
    decision = Decision(
        transaction_id="tx-1",
        event_time=tx.event_time,
        decided_at=tx.event_time,
        outcome=Outcome.REVIEW,
        risk_score=0.5,
    )
    cases.ingest([(tx, decision)])
    (case,) = cases.find(CaseFilter())
    before = _audited(store)
    for who in (VIEWER, SERVICE):
        with pytest.raises(PermissionDenied, match=r"'cases.act'"):
            cases.assign([case["id"]], ["ana"], by=who)
        with pytest.raises(PermissionDenied, match=r"needs the permission 'cases\.act'"):
            cases.transition([case["id"]], Status.RESOLVED, by=who, disposition=Disposition.FRAUD)
        with pytest.raises(PermissionDenied):
            cases.note(case["id"], "looks fine", by=who)
    unchanged = cases.get(case["id"])
    assert (unchanged["status"], unchanged["assignee"], unchanged["notes"]) == ("open", None, [])
    assert _audited(store) == before
    labels = cases.transition(
        [case["id"]], Status.RESOLVED, by=ANALYST, disposition=Disposition.FRAUD
    )
    assert [label.transaction_id for label in labels] == ["tx-1"]
    assert cases.get(case["id"])["resolved_by"] == "ana (analyst)"


def test_rules_policy_lists_and_keys_check_the_role(store: EventStore, keyring: KeyRing) -> None:
    control = ControlPlane(store.engine, keyring, CardTokenizer(b"k" * 32))
    draft = RuleSet(1, (Rule("big", "amount > 500", Action.REVIEW, 20),))
    with pytest.raises(PermissionDenied, match=r"'rules.edit'"):
        control.save_draft(draft, by=VIEWER)
    control.save_draft(draft, by=ANALYST)
    with pytest.raises(PermissionDenied, match=r"'rules\.publish' \(admin\)"):
        control.publish(1, VOCAB, by=ANALYST)
    with pytest.raises(PermissionDenied, match=r"'policy.edit'"):
        control.set_setting("policy.thresholds", {"review": 0.1}, by=ANALYST)
    with pytest.raises(PermissionDenied, match=r"'lists.edit'"):
        control.add_to_list("blocked_ips", ["10.0.0.1"], by=SERVICE)
    with pytest.raises(PermissionDenied, match=r"'users.admin'"):
        control.create_api_key(role=Role.ADMIN, name="escalation", by=ANALYST)
    assert control.active_rule_set() is None
    assert control.setting("policy.thresholds") is None
    assert control.lists() == {}
    assert control.api_keys() == []
    control.publish(1, VOCAB, by=ADMIN)
    assert control.add_to_list("blocked_ips", ["10.0.0.1"], by=ANALYST) == 1
    key, _ = control.create_api_key(role=Role.VIEWER, name="wall screen", by=ADMIN)
    with pytest.raises(PermissionDenied):
        control.revoke_api_key(key.key_id, by=ANALYST)
    actions = [e.action for e in control.audit(limit=10)]
    assert actions == [
        "api_key.create",
        "list.add",
        "rule_set.activate",
        "rule_set.publish",
        "rule_set.save_draft",
    ]


def test_user_administration_needs_users_admin(store: EventStore, keyring: KeyRing) -> None:
    users = UserService(store.engine, keyring)
    with pytest.raises(PermissionDenied, match=r"'users.admin'"):
        users.create("mallory", UserRole.ADMIN, "a long password!", by=ANALYST)
    assert users.users() == []
    users.create("vic", UserRole.VIEWER, "a long password!", by=ADMIN)
    with pytest.raises(PermissionDenied):
        users.disable("vic", by=VIEWER)
    assert [u["disabled"] for u in users.users()] == [False]
    users.disable("vic", by="command line")  # an operator on the machine itself
    assert [u["disabled"] for u in users.users()] == [True]
