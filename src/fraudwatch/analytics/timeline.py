"""A card's or a customer's history for the case page: transactions newest first with their
decisions and labels, and the customer's logins (no personal data: those stay encrypted)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, and_, or_, select

from fraudwatch.analytics import cursors
from fraudwatch.analytics.decisions import labels_of
from fraudwatch.analytics.views import LoginView, TimelineItem, TransactionView
from fraudwatch.storage import tables as t
from fraudwatch.storage.entities import entity_filter

_txs, _decisions, _logins = t.transactions.c, t.decisions.c, t.logins.c


def transactions_of(
    conn: Connection,
    *,
    card_token: str | None,
    customer_id: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[TimelineItem], str | None]:
    """One page of the entity's transactions, newest first, and the next page's cursor."""
    if (card_token is None) == (customer_id is None):
        raise cursors.BadQuery("card_token, customer_id: give exactly one of them")
    column, value = ("card_token", card_token) if card_token else ("customer_id", customer_id)
    query = select(
        _txs.transaction_id,
        _txs.event_time,
        _txs.amount,
        _txs.currency,
        _txs.merchant_name,
        _txs.merchant_country,
        _txs.channel,
        _decisions.outcome,
        _decisions.risk_score,
    ).select_from(
        t.transactions.outerjoin(
            t.decisions,
            and_(
                _decisions.transaction_id == _txs.transaction_id,
                _decisions.event_time == _txs.event_time,
            ),
        )
    )
    position = cursors.decode(after)
    if position is None:  # the first page: only the newest candidates are read
        query = query.where(entity_filter(conn, column, str(value), newest=limit + 1))
    else:  # a later one: those up to its cursor's time (the rows tied with the cursor but
        # after it would count against a cut, so none is made)
        at, tid = position
        up_to_cursor = at + timedelta(microseconds=1)
        query = query.where(
            entity_filter(conn, column, str(value), end=up_to_cursor),
            _txs.event_time <= at,
            or_(_txs.event_time < at, and_(_txs.event_time == at, _txs.transaction_id < tid)),
        )
    query = query.order_by(_txs.event_time.desc(), _txs.transaction_id.desc()).limit(limit + 1)
    rows = conn.execute(query).all()
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = cursors.encode(rows[-1].event_time, rows[-1].transaction_id)
    labels = labels_of(conn, [row.transaction_id for row in rows])
    items = [
        TimelineItem(
            transaction_id=row.transaction_id,
            event_time=row.event_time,
            amount=float(row.amount),
            currency=row.currency,
            merchant_name=row.merchant_name,
            merchant_country=row.merchant_country,
            channel=row.channel,
            outcome=row.outcome,
            risk_score=row.risk_score,
            label=labels.get(row.transaction_id),
        )
        for row in rows
    ]
    return items, following


def logins_of(conn: Connection, customer_id: str, *, limit: int) -> list[LoginView]:
    rows = conn.execute(
        select(
            _logins.login_id,
            _logins.event_time,
            _logins.success,
            _logins.country,
            _logins.device_id,
            _logins.device_type,
            _logins.latitude,
            _logins.longitude,
        )
        .where(_logins.customer_id == customer_id)
        .order_by(_logins.event_time.desc(), _logins.login_id.desc())
        .limit(limit)
    ).all()
    return [
        LoginView(
            login_id=r.login_id,
            event_time=r.event_time,
            success=bool(r.success),
            country=r.country,
            device_id=r.device_id,
            device_type=r.device_type,
            latitude=r.latitude,
            longitude=r.longitude,
        )
        for r in rows
    ]


def transaction_view(row: object) -> TransactionView:
    """A transactions row without its personal fields."""
    values = row._mapping  # type: ignore[attr-defined]
    attributes = values["attributes"] or {}
    ip_country = attributes.get("ip_country") if isinstance(attributes, dict) else None
    fields = {name: values[name] for name in TransactionView.model_fields if name in values}
    fields["amount"] = float(values["amount"])
    return TransactionView(**fields, ip_country=ip_country)
