"""Finding a card's, a customer's or a merchant's transactions, on either database.

PostgreSQL has an index per entity on (entity, event_time), kept at each write. On SQLite those
three B-trees were inserted into at random keys, which once they outgrow a commit costs about one
page write per transaction and index: half of the embedded store's write. There the entries live
in `entity_index` (revision 0012) instead, written in key order for many transactions at once
(`SQLiteEventStore.index_entities`), which dirties each page once for many entries; the
transactions after `entity_mark.upto` are not in it yet and are read by their rowid (a range
scan of the last seconds' rows: a writer starts a run every `sqlite.INDEX_AFTER_S` seconds or
`INDEX_AFTER_ROWS` rows). So a lookup is exact at any moment: entries up to the mark, rows after.
The entries name rows by rowid, which stay put: no transaction is ever deleted, and SQLite's
`VACUUM` kept them (tested by hand, 3.40, a table with gaps), though its documentation does not
promise that for a table without an INTEGER PRIMARY KEY. No fraudwatch command runs `VACUUM`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnClause, ColumnElement, Connection, and_, literal_column, select

from fraudwatch.storage import tables as t

KINDS = {"card_token": 0, "customer_id": 1, "merchant_id": 2}
_rowid: ColumnClause[int] = literal_column("transactions.rowid")
_tail = t.transactions.alias("entity_tail")  # its own name: not correlated with the query's
_tail_rowid: ColumnClause[int] = literal_column("entity_tail.rowid")


def indexed_upto(conn: Connection) -> int:
    """The last transaction (rowid) whose entries are in `entity_index` (SQLite)."""
    upto = conn.execute(select(t.entity_mark.c.upto).where(t.entity_mark.c.id == 1)).scalar()
    return int(upto or 0)


def entity_filter(
    conn: Connection,
    column: str,
    value: str,
    *,
    newest: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> ColumnElement[bool]:
    """The condition on `transactions` for the rows whose `column` (card_token, customer_id or
    merchant_id) is `value` and, on SQLite, whose event_time is in [`start`, `end`) (the caller
    applies the same range). With `newest`, the caller takes only the `newest` latest of those
    rows (by event_time, then transaction_id) and nothing else narrows them: the candidates read
    are then cut to those (ties in time included). Build it in the connection that runs the
    query, for one snapshot of the mark and the index."""
    txs = t.transactions.c
    same = txs[column] == value
    if conn.dialect.name != "sqlite":
        return same
    e = t.entity_index.c
    indexed = [e.kind == KINDS[column], e.key == value]
    if start is not None:
        indexed.append(e.event_time >= start)
    if end is not None:
        indexed.append(e.event_time < end)
    if newest is not None and newest > 0:
        # The newest-th latest entry's time: older entries cannot be among the newest rows.
        boundary = conn.execute(
            select(e.event_time)
            .where(*indexed)
            .order_by(e.event_time.desc())
            .limit(1)
            .offset(newest - 1)
        ).scalar()
        if boundary is not None:
            indexed.append(e.event_time >= boundary)
    candidates = (
        select(e.tx_rowid)
        .where(*indexed)
        .union_all(
            select(_tail_rowid)
            .select_from(_tail)
            .where(_tail_rowid > indexed_upto(conn), _tail.c[column] == value)
        )
    )
    return and_(same, _rowid.in_(candidates))
