"""Cases on both databases: grouping, priority and queues, the workflow and its labels,
round-robin assignment, filters with keyset pagination, SLA breaches, notes and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from fraudwatch.cases.service import CaseError, CaseFilter, CaseService, Disposition, Status
from fraudwatch.control import audit
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.errors import NotFoundError
from fraudwatch.events.model import Card, LabelSource, Transaction
from fraudwatch.storage import EventStore
from fraudwatch.storage import tables as t
from tests.conftest import make_transaction

T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


def _pair(
    i: int, card: str, outcome: Outcome, risk: float = 0.5, amount: str = "50.00"
) -> tuple[Transaction, Decision]:
    tx = make_transaction(
        transaction_id=f"tx-{i}",
        event_time=T0 + timedelta(minutes=i),
        amount=Decimal(amount),
        card=Card(token="tok_" + card * 32),
        customer_id=f"cust-{card}",
    )
    decision = Decision(
        transaction_id=tx.transaction_id,
        event_time=tx.event_time,
        decided_at=tx.event_time,
        outcome=outcome,
        risk_score=risk,
    )
    return tx, decision


@pytest.fixture
def cases(store: EventStore) -> CaseService:
    return CaseService(store.engine)


def test_decisions_on_one_card_make_one_case(cases: CaseService) -> None:
    pairs = [
        _pair(1, "a", Outcome.REVIEW, 0.4),
        _pair(2, "a", Outcome.BLOCK, 0.95, "300.00"),
        _pair(3, "b", Outcome.STEP_UP, 0.65),
        _pair(4, "c", Outcome.APPROVE, 0.1),
    ]
    assert cases.ingest(pairs) == 3
    assert cases.ingest(pairs) == 0  # idempotent
    found = cases.find(CaseFilter(status=Status.OPEN))
    assert [(c["card_token"][-1], c["queue"], c["priority"], c["decisions"]) for c in found] == [
        ("a", "block", 1, 2),
        ("b", "step_up", 2, 1),
    ]
    card_a = cases.get(found[0]["id"])
    assert Decimal(card_a["total_amount"]) == Decimal("350")
    assert [x["transaction_id"] for x in card_a["transactions"]] == ["tx-1", "tx-2"]
    by_tx = cases.find(CaseFilter(transaction_id="tx-3"))
    assert [c["id"] for c in by_tx] == [found[1]["id"]]


def test_a_decision_sent_twice_in_one_call_joins_its_case_once(cases: CaseService) -> None:
    """A restarted decision writer can be handed a batch's flagged decisions twice at once
    (their cases not yet acknowledged, and the batch itself sent again)."""
    first, again = _pair(1, "a", Outcome.REVIEW, 0.4), _pair(1, "a", Outcome.REVIEW, 0.4)
    assert cases.ingest([first, _pair(2, "a", Outcome.BLOCK, 0.95), again]) == 2
    (case,) = cases.find(CaseFilter(status=Status.OPEN))
    assert case["decisions"] == 2


def test_the_workflow_follows_its_table_and_resolving_writes_labels(
    cases: CaseService, store: EventStore
) -> None:
    cases.ingest([_pair(1, "a", Outcome.REVIEW), _pair(2, "a", Outcome.REVIEW)])
    (case,) = cases.find(CaseFilter())
    case_id = case["id"]
    with pytest.raises(CaseError, match="needs a disposition"):
        cases.transition([case_id], Status.RESOLVED, by="ana")
    assert cases.transition([case_id], Status.INVESTIGATING, by="ana") == []
    labels = cases.transition([case_id], Status.RESOLVED, by="ana", disposition=Disposition.FRAUD)
    assert sorted(label.transaction_id for label in labels) == ["tx-1", "tx-2"]
    assert all(
        label.is_fraud and label.source is LabelSource.ANALYST and label.fraud_type == "fraud"
        for label in labels
    )
    resolved = cases.get(case_id)
    assert (resolved["status"], resolved["disposition"], resolved["resolved_by"]) == (
        "resolved",
        "fraud",
        "ana",
    )
    with pytest.raises(CaseError, match="resolved: it can move to open, not investigating"):
        cases.transition([case_id], Status.INVESTIGATING, by="ana")
    cases.ingest([_pair(3, "a", Outcome.BLOCK)])  # a resolved case is not reused
    assert len(cases.find(CaseFilter(card_token="tok_" + "a" * 32))) == 2
    cases.transition([case_id], Status.OPEN, by="bob")  # reopened
    assert cases.get(case_id)["disposition"] is None
    legit = cases.transition(
        [case_id], Status.RESOLVED, by="bob", disposition=Disposition.LEGITIMATE
    )
    assert {label.is_fraud for label in legit} == {False}
    actions = [e.action for e in _audit(store)]
    assert actions.count("case.transition") == 4
    assert audit.verify(store.engine).ok


def _audit(store: EventStore) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(t.audit_log).order_by(t.audit_log.c.seq)).all())


def test_round_robin_assignment_notes_and_breaches(cases: CaseService, store: EventStore) -> None:
    cases.ingest([_pair(i, chr(ord("a") + i), Outcome.REVIEW, 0.3) for i in range(3)])
    ids = [c["id"] for c in cases.find(CaseFilter())]
    assert cases.assign(ids, ["ana", "bob"], by="lead") == {
        ids[0]: "ana",
        ids[1]: "bob",
        ids[2]: "ana",
    }
    assert [c["id"] for c in cases.find(CaseFilter(assignee="ana"))] == [ids[0], ids[2]]
    cases.note(ids[1], "called the cardholder: not them", by="bob")
    assert cases.get(ids[1])["notes"][0]["text"] == "called the cardholder: not them"
    with pytest.raises(CaseError, match="needs text"):
        cases.note(ids[1], "  ", by="bob")
    with store.engine.begin() as conn:  # the first case is past its SLA
        conn.execute(
            update(t.cases).where(t.cases.c.id == ids[0]).values(due_at=T0 - timedelta(hours=1))
        )
    assert [c["id"] for c in cases.find(CaseFilter(breached=True))] == [ids[0]]
    assert cases.find(CaseFilter(breached=True))[0]["breached"] is True


def test_keyset_pages_cover_every_case_once(cases: CaseService) -> None:
    cases.ingest(
        [_pair(i, chr(ord("a") + i), Outcome.REVIEW, 0.3 + 0.05 * (i % 3)) for i in range(8)]
    )
    seen: list[int] = []
    after = None
    while True:
        page = cases.find(CaseFilter(), limit=3, after=after)
        if not page:
            break
        seen += [c["id"] for c in page]
        last = page[-1]
        after = (last["priority"], last["opened_at"], last["id"])
    assert len(seen) == 8 and len(set(seen)) == 8
    assert seen == [c["id"] for c in cases.find(CaseFilter(), limit=100)]


def test_search_finds_a_case_by_any_id_typed_in(cases: CaseService) -> None:
    cases.ingest([_pair(1, "a", Outcome.REVIEW), _pair(2, "a", Outcome.BLOCK),
                  _pair(3, "b", Outcome.REVIEW)])  # fmt: skip
    first, second = sorted(c["id"] for c in cases.find(CaseFilter()))
    cases.assign([second], ["ana"], by="lead")

    def found(text: str, **more: Any) -> list[int]:
        return [c["id"] for c in cases.find(CaseFilter(search=text, **more))]

    assert found("tx-2") == [first]  # a transaction of the case
    assert found("cust-b") == [second]
    assert found("tok_" + "a" * 32) == [first]
    assert found(str(second)) == [second]
    assert found("ana") == [second]
    assert found("nothing like it") == []
    assert found("tx-3", status=Status.RESOLVED) == []  # combined with the filters


def test_bulk_moves_are_all_or_nothing_and_audited_case_by_case(
    cases: CaseService, store: EventStore
) -> None:
    cases.ingest([_pair(i, chr(ord("a") + i), Outcome.REVIEW) for i in range(3)])
    ids = sorted(c["id"] for c in cases.find(CaseFilter()))
    cases.transition(ids[:1], Status.RESOLVED, by="ana", disposition=Disposition.LEGITIMATE)
    before = len(_audit(store))
    with pytest.raises(CaseError, match=f"case {ids[0]} is resolved"):
        cases.transition(ids, Status.INVESTIGATING, by="ana")
    with pytest.raises(NotFoundError, match="no case 999"):
        cases.assign([ids[1], 999], ["bob"], by="ana")
    assert {c["status"] for c in cases.find(CaseFilter(status=Status.OPEN))} == {"open"}
    assert [c["assignee"] for c in cases.find(CaseFilter(status=Status.OPEN))] == [None, None]
    assert len(_audit(store)) == before  # nothing happened, nothing logged
    labels = cases.transition(ids[1:], Status.RESOLVED, by="bob", disposition=Disposition.FRAUD)
    assert sorted(label.transaction_id for label in labels) == ["tx-1", "tx-2"]
    entries = _audit(store)[before:]
    assert [(e.target, e.details["to"]) for e in entries] == [
        (f"case:{ids[1]}", "resolved"),
        (f"case:{ids[2]}", "resolved"),
    ]
    assert audit.verify(store.engine).ok
