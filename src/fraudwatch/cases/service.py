"""Cases: what investigators work on.

A review, step_up or block decision opens a case or joins the open one of the same card (else
the same customer): a burst on one card is one case. A case has a priority (from its highest
risk, its outcome and its amount), a queue (its strongest outcome), an SLA due time, an
assignee, notes, and a status that moves only along `TRANSITIONS`. Resolving it with a
disposition returns `Label`s for all its transactions: the caller stores them and feeds them to
the label-aware features, and training picks them up — the feedback loop. Every user action
needs the `cases.act` permission and is written to the hash-chained audit log in the same
transaction, one entry per case; an action on many cases is all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    union,
    update,
)

from fraudwatch.control import audit
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.errors import FraudwatchError, NotFoundError
from fraudwatch.events.model import Label, LabelSource, Transaction
from fraudwatch.features.enrich.fx import to_reporting_micro
from fraudwatch.security.access import Permission, check
from fraudwatch.storage import tables as t
from fraudwatch.storage.writing import writing


class Status(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"


class Disposition(StrEnum):
    FRAUD = "fraud"
    LEGITIMATE = "legitimate"
    FRIENDLY_FRAUD = "friendly_fraud"


#: the workflow: from -> the statuses it may move to (reopening is resolved -> open)
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.INVESTIGATING, Status.RESOLVED}),
    Status.INVESTIGATING: frozenset({Status.OPEN, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.OPEN}),
}
SLA = {1: timedelta(hours=1), 2: timedelta(hours=4), 3: timedelta(hours=24)}
QUEUE_RANK = {Outcome.REVIEW.value: 1, Outcome.STEP_UP.value: 2, Outcome.BLOCK.value: 3}
# Built once, executed with parameters: `.values(...)` with literal values coerced every value
# and built a new cache key per case (half of opening the cases of a batch of decisions).
_OPEN_CASE = insert(t.cases).returning(t.cases.c.id)
_UPDATE_CASE = update(t.cases).where(t.cases.c.id == bindparam("case_id"))  # SET: the other keys


class CaseError(FraudwatchError):
    code = "invalid_change"


def priority(max_risk: float, queue: str, amount_eur: Decimal) -> int:
    """1 (urgent): blocked, or risk ≥ 0.9, or ≥ 1,000 EUR; 2: risk ≥ 0.6 or ≥ 250 EUR; else 3."""
    if queue == Outcome.BLOCK.value or max_risk >= 0.9 or amount_eur >= 1000:
        return 1
    if max_risk >= 0.6 or amount_eur >= 250:
        return 2
    return 3


@dataclass(frozen=True)
class CaseFilter:
    status: Status | None = None
    queue: str | None = None
    assignee: str | None = None
    priority: int | None = None
    breached: bool | None = None
    card_token: str | None = None
    customer_id: str | None = None
    transaction_id: str | None = None
    search: str | None = None  # an id pasted in: case, transaction, card token, customer, assignee


def _now() -> datetime:
    return datetime.now(UTC)


def _key(tx: Transaction | None, decision: Decision) -> str:
    """The case a decision belongs to: its card's, else its customer's, else its own."""
    if tx is not None and tx.card is not None and tx.card.token:
        return f"card:{tx.card.token}"
    if tx is not None and tx.customer_id:
        return f"customer:{tx.customer_id}"
    return f"transaction:{decision.transaction_id}"


def _amount(tx: Transaction | None) -> Decimal:
    if tx is None:
        return Decimal(0)
    return Decimal(to_reporting_micro(tx.amount, tx.currency)) / 1_000_000


class CaseService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- from decisions ---------------------------------------------------------------------

    def ingest(self, pairs: Sequence[tuple[Transaction | None, Decision]]) -> int:
        """Open or update cases for the non-approve decisions; returns how many joined a case.
        Idempotent: a decision already in a case is skipped, and one given twice counts once
        (a restarted decision writer may be handed a batch's flagged decisions twice)."""
        unique: dict[str, tuple[Transaction | None, Decision]] = {}
        for tx, d in pairs:
            if d.outcome is not Outcome.APPROVE:
                unique.setdefault(d.transaction_id, (tx, d))
        flagged = list(unique.values())
        if not flagged:
            return 0
        groups: dict[str, list[tuple[Transaction | None, Decision, Decimal]]] = {}
        for tx, decision in flagged:
            groups.setdefault(_key(tx, decision), []).append((tx, decision, _amount(tx)))
        c = t.cases.c
        with writing(self._engine) as conn:
            ids = [d.transaction_id for _, d in flagged]
            known = set(
                conn.execute(
                    select(t.case_decisions.c.transaction_id).where(
                        t.case_decisions.c.transaction_id.in_(ids)
                    )
                ).scalars()
            )
            open_cases = {
                row.case_key: row
                for row in conn.execute(
                    select(t.cases).where(
                        c.case_key.in_(list(groups)), c.status != Status.RESOLVED.value
                    )
                )
            }
            members: list[dict[str, Any]] = []
            now = _now()
            for key, items in groups.items():
                fresh = [item for item in items if item[1].transaction_id not in known]
                if not fresh:
                    continue
                case_id = self._apply(conn, key, fresh, open_cases.get(key), now)
                members += [
                    {
                        "case_id": case_id,
                        "transaction_id": d.transaction_id,
                        "outcome": d.outcome.value,
                        "risk_score": d.risk_score,
                        "event_time": d.event_time,
                        "added_at": now,
                    }
                    for _, d, _ in fresh
                ]
            if members:
                conn.execute(insert(t.case_decisions), members)
        return len(members)

    def _apply(
        self,
        conn: Connection,
        key: str,
        items: list[tuple[Transaction | None, Decision, Decimal]],
        case: Any,
        now: datetime,
    ) -> int:
        """Open the key's case or update its aggregates with `items`; returns the case id."""
        queue = max((d.outcome.value for _, d, _ in items), key=QUEUE_RANK.__getitem__)
        max_risk = max(d.risk_score for _, d, _ in items)
        total = sum((amount for _, _, amount in items), Decimal(0))
        if case is None:
            tx = items[0][0]
            level = priority(max_risk, queue, total)
            values = {
                "case_key": key,
                "status": Status.OPEN.value,
                "priority": level,
                "queue": queue,
                "max_risk": max_risk,
                "total_amount": total,
                "currency": "EUR",
                "decisions": len(items),
                "card_token": tx.card.token if tx is not None and tx.card is not None else None,
                "customer_id": tx.customer_id if tx is not None else None,
                "opened_at": now,
                "updated_at": now,
                "due_at": now + SLA[level],
            }
            opened: int = conn.execute(_OPEN_CASE, values).scalar_one()
            return opened
        if QUEUE_RANK[case.queue] > QUEUE_RANK[queue]:
            queue = case.queue
        max_risk = max(case.max_risk, max_risk)
        total += Decimal(case.total_amount)
        level = min(case.priority, priority(max_risk, queue, total))
        changes = {
            "case_id": case.id,
            "queue": queue,
            "max_risk": max_risk,
            "total_amount": total,
            "priority": level,
            "decisions": case.decisions + len(items),
            "updated_at": now,
            "due_at": min(case.due_at, case.opened_at + SLA[level]),
        }
        conn.execute(_UPDATE_CASE, changes)
        return int(case.id)

    # -- reading ----------------------------------------------------------------------------

    def find(
        self, where: CaseFilter, *, limit: int = 50, after: tuple[int, datetime, int] | None = None
    ) -> list[dict[str, Any]]:
        """Cases by (priority, opened_at, id), keyset-paginated with `after` = the last row's
        (priority, opened_at, id): each page is an index range scan, however many cases exist."""
        c = t.cases.c
        query = select(t.cases)
        now = _now()
        conditions = [
            (c.status, where.status.value if where.status else None),
            (c.queue, where.queue),
            (c.assignee, where.assignee),
            (c.priority, where.priority),
            (c.card_token, where.card_token),
            (c.customer_id, where.customer_id),
        ]
        for column, value in conditions:
            if value is not None:
                query = query.where(column == value)
        if where.breached is not None:
            # the literal (not a parameter) lets both databases use the partial index
            unresolved = c.status != literal_column(f"'{Status.RESOLVED.value}'")
            late = and_(unresolved, c.due_at < now)
            query = query.where(late if where.breached else ~late)
        if where.transaction_id is not None:
            query = query.where(
                c.id.in_(
                    select(t.case_decisions.c.case_id).where(
                        t.case_decisions.c.transaction_id == where.transaction_id
                    )
                )
            )
        if where.search is not None:
            query = query.where(_matches(where.search.strip()))
        if after is not None:
            p, opened, last = after
            query = query.where(
                or_(
                    c.priority > p,
                    and_(c.priority == p, c.opened_at > opened),
                    and_(c.priority == p, c.opened_at == opened, c.id > last),
                )
            )
        query = query.order_by(c.priority, c.opened_at, c.id).limit(limit)
        with self._engine.connect() as conn:
            return [_case(row._mapping, now) for row in conn.execute(query)]

    def get(self, case_id: int) -> dict[str, Any]:
        now = _now()
        with self._engine.connect() as conn:
            row = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).first()
            if row is None:
                raise NotFoundError(f"no case {case_id}")
            decisions = conn.execute(
                select(t.case_decisions)
                .where(t.case_decisions.c.case_id == case_id)
                .order_by(t.case_decisions.c.event_time)
            ).all()
            notes = conn.execute(
                select(t.case_notes)
                .where(t.case_notes.c.case_id == case_id)
                .order_by(t.case_notes.c.id)
            ).all()
        out = _case(row._mapping, now)
        out["transactions"] = [
            {k: d._mapping[k] for k in ("transaction_id", "outcome", "risk_score", "event_time")}
            for d in decisions
        ]
        out["notes"] = [{k: n._mapping[k] for k in ("at", "author", "text")} for n in notes]
        return out

    def counts(self) -> dict[str, int]:
        c = t.cases.c
        with self._engine.connect() as conn:
            return {
                s: int(n)
                for s, n in conn.execute(select(c.status, func.count()).group_by(c.status))
            }

    # -- actions ----------------------------------------------------------------------------

    def _load(self, conn: Connection, case_ids: Sequence[int]) -> dict[int, Any]:
        """The cases, every one of which must exist (one query however many)."""
        wanted = list(dict.fromkeys(case_ids))
        rows = {
            int(row.id): row
            for row in conn.execute(
                select(t.cases.c.id, t.cases.c.status).where(t.cases.c.id.in_(wanted))
            )
        }
        missing = [str(case_id) for case_id in wanted if case_id not in rows]
        if missing:
            raise NotFoundError(f"no case {', '.join(missing)}")
        return rows

    def assign(
        self, case_ids: Sequence[int], assignees: Sequence[str], *, by: str
    ) -> dict[int, str]:
        """Assign each case; several assignees share them round-robin, in the order given."""
        check(by, Permission.CASES_ACT)
        if not assignees:
            raise CaseError("assignees: name at least one")
        ids = list(dict.fromkeys(case_ids))
        done = {case_id: assignees[i % len(assignees)] for i, case_id in enumerate(ids)}
        now = _now()
        with writing(self._engine) as conn:
            self._load(conn, ids)
            conn.execute(
                update(t.cases)
                .where(t.cases.c.id == bindparam("case_id"))
                .values(assignee=bindparam("who"), updated_at=now),
                [{"case_id": case_id, "who": who} for case_id, who in done.items()],
            )
            audit.append_many(
                conn,
                [
                    audit.Change(by, "case.assign", f"case:{case_id}", {"assignee": who})
                    for case_id, who in done.items()
                ],
            )
        return done

    def transition(
        self,
        case_ids: Sequence[int],
        to: Status,
        *,
        by: str,
        disposition: Disposition | None = None,
    ) -> list[Label]:
        """Move cases along the workflow (all or none); resolving needs a disposition and
        returns the labels of their transactions (known now) for the caller to store and apply."""
        check(by, Permission.CASES_ACT)
        if to is Status.RESOLVED and disposition is None:
            raise CaseError(
                "disposition: resolving needs a disposition (fraud, legitimate or friendly_fraud)"
            )
        if to is not Status.RESOLVED and disposition is not None:
            raise CaseError("disposition: given only when resolving")
        ids = list(dict.fromkeys(case_ids))
        now = _now()
        resolving = to is Status.RESOLVED
        with writing(self._engine) as conn:
            cases = self._load(conn, ids)
            for case_id in ids:
                current = Status(cases[case_id].status)
                if to not in TRANSITIONS[current]:
                    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
                    raise CaseError(
                        f"case {case_id} is {current.value}: it can move to {allowed}, "
                        f"not {to.value}"
                    )
            conn.execute(
                update(t.cases)
                .where(t.cases.c.id == bindparam("case_id"))
                .values(
                    status=to.value,
                    updated_at=now,
                    disposition=disposition.value if disposition else None,
                    resolved_at=now if resolving else None,
                    resolved_by=str(by) if resolving else None,
                ),
                [{"case_id": case_id} for case_id in ids],
            )
            changes = []
            for case_id in ids:
                details = {"from": cases[case_id].status, "to": to.value}
                if disposition is not None:
                    details["disposition"] = disposition.value
                changes.append(audit.Change(by, "case.transition", f"case:{case_id}", details))
            audit.append_many(conn, changes)
            if disposition is None:
                return []
            return self._labels(conn, ids, disposition, now)

    def _labels(
        self, conn: Connection, case_ids: list[int], disposition: Disposition, now: datetime
    ) -> list[Label]:
        rows = conn.execute(
            select(t.case_decisions.c.transaction_id, t.case_decisions.c.event_time).where(
                t.case_decisions.c.case_id.in_(case_ids)
            )
        ).all()
        fraud = disposition is not Disposition.LEGITIMATE
        return [
            Label(
                transaction_id=tid,
                is_fraud=fraud,
                event_time=event_time,
                known_at=now,
                source=LabelSource.ANALYST,
                fraud_type=disposition.value if fraud else None,
            )
            for tid, event_time in rows
        ]

    def note(self, case_id: int, text: str, *, by: str) -> None:
        check(by, Permission.CASES_ACT)
        if not text.strip():
            raise CaseError("text: a note needs text")
        with writing(self._engine) as conn:
            self._load(conn, [case_id])
            conn.execute(
                insert(t.case_notes).values(case_id=case_id, at=_now(), author=by, text=text)
            )
            audit.append(conn, actor=by, action="case.note", target=f"case:{case_id}", details=None)


def _matches(text: str) -> ColumnElement[bool]:
    """Cases an id typed into the search box names: a union of index lookups (an OR of them
    would let PostgreSQL walk the whole queue in order, filtering)."""
    c, members = t.cases.c, t.case_decisions.c
    found = union(
        select(c.id).where(c.card_token == text),
        select(c.id).where(c.customer_id == text),
        select(c.id).where(c.assignee == text),
        select(members.case_id).where(members.transaction_id == text),
        *([select(c.id).where(c.id == int(text))] if text.isdigit() and len(text) < 19 else []),
    )
    return c.id.in_(select(found.subquery().c[0]))


def _case(row: Any, now: datetime) -> dict[str, Any]:
    out = dict(row)
    out["total_amount"] = str(out["total_amount"])
    out["breached"] = out["status"] != Status.RESOLVED.value and out["due_at"] < now
    return out
