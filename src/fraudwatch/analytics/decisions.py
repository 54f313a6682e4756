"""Decisions as the dashboard lists them: joined with their transaction, label and case,
filtered, newest first with keyset pages, or tailed in the order they were decided (live feed).

Only columns that are not personal data are read (card token, BIN and last four digits, customer
id, merchant, channel, countries): the encrypted fields are never opened here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Connection, Select, and_, func, or_, select, true

from fraudwatch.analytics import cursors
from fraudwatch.analytics.views import DecisionView, LabelView
from fraudwatch.storage import tables as t

OUTCOMES = ("approve", "review", "step_up", "block")
FLAGGED = ("review", "step_up", "block")
_decisions, _txs, _labels = t.decisions.c, t.transactions.c, t.labels.c
_probe = t.transactions.alias("tx_filter").c
ID_CHUNK = 500


@dataclass(frozen=True)
class DecisionFilter:
    outcome: Sequence[str] = ()
    min_score: float | None = None
    max_score: float | None = None
    min_amount: float | None = None
    max_amount: float | None = None
    merchant: str | None = None
    country: str | None = None
    channel: str | None = None
    scenario: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        unknown = [o for o in self.outcome if o not in OUTCOMES]
        if unknown:
            raise cursors.BadQuery(f"outcome: {unknown[0]!r} is not one of {', '.join(OUTCOMES)}")
        if self.country is not None and (len(self.country) != 2 or not self.country.isalpha()):
            raise cursors.BadQuery(f"country: {self.country!r} is not an ISO alpha-2 code")

    def apply(self, query: Select[Any]) -> Select[Any]:
        """`query` (over decisions joined with transactions) narrowed to what is asked."""
        conditions: list[ColumnElement[bool]] = []
        if self.outcome:
            conditions.append(_decisions.outcome.in_(list(self.outcome)))
        if self.min_score is not None:
            conditions.append(_decisions.risk_score >= self.min_score)
        if self.max_score is not None:
            conditions.append(_decisions.risk_score <= self.max_score)
        if self.since is not None:
            conditions.append(_decisions.event_time >= self.since)
        if self.until is not None:
            conditions.append(_decisions.event_time < self.until)
        tx = self._transaction_conditions()
        if tx:
            # A semi-join probe per decision (by primary key), so the planner keeps walking the
            # decisions in time order instead of scanning every transaction and sorting.
            conditions.append(
                select(_probe.transaction_id)
                .where(
                    _probe.transaction_id == _decisions.transaction_id,
                    _probe.event_time == _decisions.event_time,
                    *tx,
                )
                .exists()
            )
        if self.scenario:
            conditions.append(
                select(_labels.transaction_id)
                .where(
                    _labels.transaction_id == _decisions.transaction_id,
                    _labels.is_fraud.is_(True),
                    _labels.fraud_type == self.scenario,
                )
                .exists()
            )
        return query.where(and_(true(), *conditions))

    def _transaction_conditions(self) -> list[ColumnElement[bool]]:
        tx: list[ColumnElement[bool]] = []
        if self.min_amount is not None:
            tx.append(_probe.amount >= Decimal(str(self.min_amount)))
        if self.max_amount is not None:
            tx.append(_probe.amount <= Decimal(str(self.max_amount)))
        if self.merchant:
            tx.append(
                or_(
                    _probe.merchant_id == self.merchant,
                    _probe.merchant_name.startswith(self.merchant, autoescape=True),
                )
            )
        if self.country:
            tx.append(_probe.merchant_country == self.country.upper())
        if self.channel:
            tx.append(_probe.channel == self.channel)
        return tx


def _base() -> Select[Any]:
    return select(
        t.decisions,
        _txs.amount,
        _txs.currency,
        _txs.merchant_id,
        _txs.merchant_name,
        _txs.merchant_mcc,
        _txs.merchant_country,
        _txs.channel,
        _txs.card_token,
        _txs.card_last4,
        _txs.customer_id,
        t.case_decisions.c.case_id,
    ).select_from(
        t.decisions.outerjoin(
            t.transactions,
            and_(
                _txs.transaction_id == _decisions.transaction_id,
                _txs.event_time == _decisions.event_time,
            ),
        ).outerjoin(
            t.case_decisions, t.case_decisions.c.transaction_id == _decisions.transaction_id
        )
    )


def _document(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        decoded: dict[str, Any] = msgspec.json.decode(value)
        return decoded
    return dict(value)


def labels_of(conn: Connection, ids: Sequence[str]) -> dict[str, LabelView]:
    """The label known now of each of `ids` that has one: the latest known (fraud on a tie)."""
    found: dict[str, LabelView] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), ID_CHUNK):
        chunk = unique[start : start + ID_CHUNK]
        rows = conn.execute(
            select(
                _labels.transaction_id, _labels.is_fraud, _labels.fraud_type, _labels.known_at
            ).where(_labels.transaction_id.in_(chunk))
        )
        for tid, is_fraud, fraud_type, known_at in rows:
            label = LabelView(is_fraud=bool(is_fraud), fraud_type=fraud_type, known_at=known_at)
            current = found.get(tid)
            if current is None or (label.known_at, label.is_fraud) > (
                current.known_at,
                current.is_fraud,
            ):
                found[tid] = label
    return found


def _views(conn: Connection, rows: Sequence[Any]) -> list[DecisionView]:
    labels = labels_of(conn, [row.transaction_id for row in rows])
    views = []
    for row in rows:
        hits, extra = _document(row.rules_hit), _document(row.reasons)
        views.append(
            DecisionView(
                transaction_id=row.transaction_id, event_time=row.event_time,
                decided_at=row.decided_at, outcome=row.outcome, risk_score=row.risk_score,
                model_score=row.model_score, anomaly_score=row.anomaly_score,
                model_version=row.model_version, ruleset_version=row.ruleset_version,
                rules_hit=hits.get("fired", []), shadow_hits=hits.get("shadow", []),
                reasons=extra.get("reasons", []), latency_ms=_document(row.latency_ms),
                amount=float(row.amount) if row.amount is not None else 0.0,
                currency=row.currency or "", merchant_id=row.merchant_id,
                merchant_name=row.merchant_name, merchant_mcc=row.merchant_mcc,
                merchant_country=row.merchant_country, channel=row.channel,
                card_token=row.card_token, card_last4=row.card_last4,
                customer_id=row.customer_id, label=labels.get(row.transaction_id),
                case_id=row.case_id,
            )
        )  # fmt: skip
    return views


def newest(
    conn: Connection, where: DecisionFilter, *, limit: int, after: str | None
) -> tuple[list[DecisionView], str | None]:
    """One page of decisions, newest event first, and the cursor of the next page. Several
    outcomes are read one by one (each walks its own index in time order) and merged."""
    position = cursors.decode(after)
    outcomes = list(dict.fromkeys(where.outcome))
    parts = [replace(where, outcome=(o,)) for o in outcomes] if len(outcomes) > 1 else [where]
    rows: list[Any] = []
    for part in parts:
        rows.extend(conn.execute(_page(part, position, limit + 1)).all())
    rows.sort(key=lambda r: (r.event_time, r.transaction_id), reverse=True)
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = cursors.encode(rows[-1].event_time, rows[-1].transaction_id)
    return _views(conn, rows), following


def _page(where: DecisionFilter, position: tuple[datetime, str] | None, size: int) -> Any:
    query = where.apply(_base())
    if position is not None:
        at, tid = position
        query = query.where(
            _decisions.event_time <= at,
            or_(
                _decisions.event_time < at,
                and_(_decisions.event_time == at, _decisions.transaction_id < tid),
            ),
        )
    order = (_decisions.event_time.desc(), _decisions.transaction_id.desc())
    return query.order_by(*order).limit(size)


def tail_start(conn: Connection) -> str:
    """The live feed's cursor at "now": after the newest decision stored."""
    row = conn.execute(
        select(_decisions.decided_at, _decisions.transaction_id)
        .order_by(_decisions.decided_at.desc(), _decisions.transaction_id.desc())
        .limit(1)
    ).first()
    if row is None:
        return cursors.encode(datetime.fromtimestamp(0, UTC), "")
    return cursors.encode(row.decided_at, row.transaction_id)


def decided_after(
    conn: Connection, where: DecisionFilter, cursor: str, *, limit: int
) -> tuple[list[tuple[str, DecisionView]], str]:
    """Decisions decided after `cursor` (oldest first), each with its own cursor, and the
    cursor to continue from (past every row read, matching or not)."""
    position = cursors.decode(cursor, field="cursor")
    assert position is not None
    at, tid = position
    scan = (
        select(_decisions.decided_at, _decisions.transaction_id)
        .where(
            _decisions.decided_at >= at,
            or_(
                _decisions.decided_at > at,
                and_(_decisions.decided_at == at, _decisions.transaction_id > tid),
            ),
        )
        .order_by(_decisions.decided_at, _decisions.transaction_id)
        .limit(limit)
    )
    window = conn.execute(scan).all()
    if not window:
        return [], cursor
    last = window[-1]
    ids = [row.transaction_id for row in window]
    query = where.apply(_base()).where(t.decisions_of(ids, conn.dialect.name))
    rows = sorted(conn.execute(query).all(), key=lambda r: (r.decided_at, r.transaction_id))
    items = [(cursors.encode(v.decided_at, v.transaction_id), v) for v in _views(conn, rows)]
    return items, cursors.encode(last.decided_at, last.transaction_id)


def one(conn: Connection, transaction_id: str) -> tuple[DecisionView, Any] | None:
    """A decision and its transaction's row (None: no decision stored)."""
    row = conn.execute(
        _base().where(t.decisions_of([transaction_id], conn.dialect.name)).limit(1)
    ).first()
    if row is None:
        return None
    view = _views(conn, [row])[0]
    tx = conn.execute(
        select(t.transactions).where(
            _txs.transaction_id == transaction_id, _txs.event_time == row.event_time
        )
    ).first()
    return view, tx


def count_recent(conn: Connection, seconds: float) -> int:
    """Decisions made within `seconds` before the newest one was made (by `decided_at`, the
    scorer's clock: traffic replayed from the past still shows its real rate)."""
    newest = conn.execute(select(func.max(_decisions.decided_at))).scalar()
    if newest is None:
        return 0
    if isinstance(newest, str):  # SQLite's max() returns the stored text
        newest = datetime.fromisoformat(newest)
    since = newest - timedelta(seconds=seconds)
    return int(
        conn.execute(
            select(func.count()).where(
                _decisions.decided_at > since, _decisions.decided_at <= newest
            )
        ).scalar_one()
    )


def features_of(
    conn: Connection, transaction_id: str, event_time: datetime
) -> dict[str, Any] | None:
    """The feature values a decision was made on, when they were stored."""
    c = t.decision_features.c
    value = conn.execute(
        select(c.features).where(c.transaction_id == transaction_id, c.event_time == event_time)
    ).scalar()
    return None if value is None else _document(value)
