"""What the SQL backends share: the write transaction's outline, migrations, and every read.

Reads are SQLAlchemy Core queries on `tables.py`, the same on both databases. A backend supplies
the engine, the transaction it writes in, and `_insert_new`: how it stores the rows of a batch
whose ids are not yet in `event_keys` (executemany on SQLite; on PostgreSQL the keys go through a
COPY-filled staging table and INSERT ... ON CONFLICT DO NOTHING, the new rows through COPY). The
registry `event_keys` is the gate: an event is stored only together with its key, so replays and
duplicates within a batch are skipped and the first content wins. (On SQLite, which has no
partitions, a transaction's and a decision's gate is their own table's primary key instead: see
`backends/sqlite.py`.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, ClassVar, Self

from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fraudwatch.decisions.model import Decision
from fraudwatch.events.deadletter import DeadLetter
from fraudwatch.events.model import Label, Login, Transaction
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import tables as t
from fraudwatch.storage.batching import KeyedRows, prepare
from fraudwatch.storage.codec import RowDecoder, RowEncoder, ValueStyle
from fraudwatch.storage.entities import entity_filter
from fraudwatch.storage.model import DECISION, TRANSACTION, SourceTotals, StoreSummary, WriteBatch
from fraudwatch.storage.schema import upgrade_to_head
from fraudwatch.storage.types import quantize_money
from fraudwatch.storage.urls import sqlalchemy_url

STREAM_CHUNK = 1000


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_limit(limit: int, offset: int = 0) -> None:
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")


class SqlEventStore(ABC):
    """The event store over one SQLAlchemy engine; subclassed per database."""

    value_style: ClassVar[ValueStyle]
    id_chunk: ClassVar[int] = 500
    own_keys: ClassVar[frozenset[str]] = frozenset()
    """Kinds gated by their own table's primary key, written without an `event_keys` row (a
    decision's content hash is then not needed: `known_hashes` computes it from the row)."""

    def __init__(self, url: str, keyring: KeyRing, *, months_ahead: int = 3) -> None:
        """`months_ahead`: partitions created ahead, where the database has partitions."""
        self._engine = self._create_engine(sqlalchemy_url(url))
        self._encoder = RowEncoder(keyring, self.value_style)
        self._decoder = RowDecoder(keyring)

    @abstractmethod
    def _create_engine(self, url: str) -> Engine: ...

    @abstractmethod
    def _write_transaction(self) -> AbstractContextManager[Connection]:
        """A connection inside the one transaction of a write (or a migration)."""

    @abstractmethod
    def _insert_new(self, conn: Connection, part: KeyedRows) -> None:
        """Store the rows of `part` whose keys are not yet in `event_keys`, and their keys."""

    def _migration_transaction(self) -> AbstractContextManager[Connection]:
        return self._write_transaction()

    def _id_in(self, column: ColumnElement[str], ids: Sequence[str]) -> ColumnElement[bool]:
        return column.in_(ids)

    def _before_write(self, parts: Sequence[KeyedRows]) -> None:  # noqa: B027 - optional hook
        """Runs before the write transaction (PostgreSQL creates the partitions it needs)."""

    def _after_migrate(self) -> None:  # noqa: B027 - optional hook
        """Runs after a migration (PostgreSQL creates the partitions ahead)."""

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self._engine

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it is already there."""
        with self._migration_transaction() as conn:
            upgrade_to_head(conn)
        self._after_migrate()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------------

    def write(self, batch: WriteBatch) -> None:
        """Store the batch in one transaction; events already stored are skipped (idempotent)."""
        if len(batch) == 0:
            return
        parts = prepare(
            batch, self._encoder, self.value_style, decision_digests=DECISION not in self.own_keys
        )
        self._before_write(parts)
        with self._write_transaction() as conn:
            for part in parts:
                if part.keys:
                    self._insert_new(conn, part)
            if batch.checkpoints:
                self._upsert_checkpoints(conn, batch.checkpoints)
            if batch.decision_features:
                self._insert_features(conn, batch.decision_features)

    def maintain(self, *, finish: bool = False) -> None:  # noqa: B027 - optional hook
        """Upkeep a writer runs between its writes, after acknowledging them (SQLite: the next
        part of the entity index, `SQLiteEventStore.index_entities`; with `finish`, all of it
        now; a failure is logged, not raised); a no-op here."""

    def _insert_features(
        self, conn: Connection, rows: list[tuple[str, datetime, dict[str, float | None]]]
    ) -> None:
        """The features flagged decisions were made on; the first write of a decision wins."""
        insert = postgres_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            insert(t.decision_features).on_conflict_do_nothing(),
            [{"transaction_id": tid, "event_time": at, "features": f} for tid, at, f in rows],
        )

    def _upsert_checkpoints(self, conn: Connection, checkpoints: dict[str, str]) -> None:
        now = datetime.now(UTC)
        insert = postgres_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = insert(t.checkpoints)
        statement = statement.on_conflict_do_update(
            index_elements=[t.checkpoints.c.key],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
        conn.execute(
            statement,
            # In key order, so concurrent writers of the same checkpoints cannot deadlock.
            [
                {"key": key, "value": value, "updated_at": now}
                for key, value in sorted(checkpoints.items())
            ],
        )

    # -- reading --------------------------------------------------------------------------------

    def known_hashes(self, kind: str, ids: Sequence[str]) -> dict[str, bytes]:
        """Content hash of every id among `ids` already stored as `kind` (labels: `label_id`)."""
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(ids))
        keys = t.event_keys.c
        with self._engine.connect() as conn:
            for chunk in _chunks(unique, self.id_chunk):
                rows = conn.execute(
                    select(keys.id, keys.content_hash).where(
                        keys.kind == kind, self._id_in(keys.id, chunk)
                    )
                )
                found.update((row_id, bytes(digest)) for row_id, digest in rows)
        return found

    def load_checkpoints(self, prefix: str = "") -> dict[str, str]:
        query = select(t.checkpoints.c.key, t.checkpoints.c.value)
        if prefix:
            query = query.where(t.checkpoints.c.key.startswith(prefix, autoescape=True))
        with self._engine.connect() as conn:
            return {key: value for key, value in conn.execute(query)}

    def get_transaction(self, transaction_id: str) -> Transaction | None:
        """The stored transaction, decrypted; the registry's event time prunes to one partition."""
        keys, txs = t.event_keys.c, t.transactions.c
        event_time = (
            select(keys.event_time)
            .where(keys.kind == TRANSACTION, keys.id == transaction_id)
            .scalar_subquery()
        )
        query = select(t.transactions).where(
            txs.transaction_id == transaction_id, txs.event_time == event_time
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else self._decoder.transaction(row)

    def get_decision(self, transaction_id: str) -> Decision | None:
        """The stored decision of a transaction (the first one made), None if there is none."""
        keys, rows = t.event_keys.c, t.decisions.c
        event_time = (
            select(keys.event_time)
            .where(keys.kind == DECISION, keys.id == transaction_id)
            .scalar_subquery()
        )
        query = select(t.decisions).where(
            rows.transaction_id == transaction_id, rows.event_time == event_time
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else self._decoder.decision(row)

    def find_transactions(
        self,
        *,
        card_token: str | None = None,
        customer_id: str | None = None,
        merchant_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[Transaction]:
        """Newest first; `start` is inclusive, `end` exclusive; each filter has an index."""
        _check_limit(limit)
        txs = t.transactions.c
        query = select(t.transactions)
        entities = {
            column: value
            for column, value in (
                ("card_token", card_token),
                ("customer_id", customer_id),
                ("merchant_id", merchant_id),
            )
            if value is not None
        }
        query = self._time_range(query, txs.event_time, start, end)
        query = query.order_by(txs.event_time.desc(), txs.transaction_id.desc()).limit(limit)
        with self._engine.connect() as conn:
            for column, value in entities.items():
                query = query.where(
                    entity_filter(
                        conn,
                        column,
                        value,
                        newest=limit if len(entities) == 1 else None,
                        start=start,
                        end=end,
                    )
                )
            return [self._decoder.transaction(row) for row in conn.execute(query).mappings()]

    def find_logins(
        self,
        *,
        customer_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[Login]:
        """A customer's logins, newest first, decrypted."""
        _check_limit(limit)
        logins = t.logins.c
        query = select(t.logins).where(logins.customer_id == customer_id)
        query = self._time_range(query, logins.event_time, start, end)
        query = query.order_by(logins.event_time.desc(), logins.login_id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [self._decoder.login(row) for row in conn.execute(query).mappings()]

    @staticmethod
    def _time_range(
        query: Select[Any], column: Any, start: datetime | None, end: datetime | None
    ) -> Select[Any]:
        if start is not None:
            query = query.where(column >= start)
        if end is not None:
            query = query.where(column < end)
        return query

    def iter_transactions(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[Transaction]:
        """Every transaction in [start, end), oldest first (ingestion order within a time),
        decrypted and streamed with a server-side cursor: the feature engines' history."""
        txs = t.transactions.c
        query = self._time_range(select(t.transactions), txs.event_time, start, end)
        query = query.order_by(txs.event_time, txs.ingested_at, txs.transaction_id)
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=STREAM_CHUNK).execute(query)
            for row in result.mappings():
                yield self._decoder.transaction(row)

    def iter_labels(self, *, end: datetime | None = None) -> Iterator[Label]:
        """Every label known before `end`, in the order they became known."""
        labels = t.labels.c
        query = select(t.labels)
        if end is not None:
            query = query.where(labels.known_at < end)
        query = query.order_by(labels.known_at, labels.transaction_id, labels.source)
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=STREAM_CHUNK).execute(query)
            for row in result.mappings():
                yield self._decoder.label(row)

    def labels_for(self, transaction_ids: Sequence[str]) -> list[Label]:
        """Every label of these transactions, by transaction id and the time each became known."""
        found: list[Label] = []
        labels = t.labels.c
        with self._engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(transaction_ids)), self.id_chunk):
                query = select(t.labels).where(self._id_in(labels.transaction_id, chunk))
                found.extend(self._decoder.label(row) for row in conn.execute(query).mappings())
        found.sort(key=lambda label: (label.transaction_id, label.known_at, label.source.value))
        return found

    def _dead_letter_query(self, reason: str | None, source: str | None) -> Select[Any]:
        letters = t.dead_letters.c
        query = select(t.dead_letters)
        if reason is not None:
            query = query.where(letters.reason == reason)
        if source is not None:
            query = query.where(letters.source == source)
        return query.order_by(letters.created_at, letters.id)

    def dead_letters(
        self,
        *,
        reason: str | None = None,
        source: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[DeadLetter]:
        """Refused records, oldest first, optionally of one reason and/or source."""
        _check_limit(limit, offset)
        query = self._dead_letter_query(reason, source).limit(limit).offset(offset)
        with self._engine.connect() as conn:
            return [self._decoder.dead_letter(row) for row in conn.execute(query).mappings()]

    def iter_dead_letters(
        self, *, reason: str | None = None, source: str | None = None
    ) -> Iterator[DeadLetter]:
        """Every matching dead letter, streamed with a server-side cursor (for exports)."""
        query = self._dead_letter_query(reason, source)
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=STREAM_CHUNK).execute(query)
            for row in result.mappings():
                yield self._decoder.dead_letter(row)

    def summary(self) -> StoreSummary:
        txs, labels, letters = t.transactions.c, t.labels.c, t.dead_letters.c
        with self._engine.connect() as conn:
            per_source = conn.execute(
                select(txs.source, txs.currency, func.count(), func.sum(txs.amount))
                .group_by(txs.source, txs.currency)
                .order_by(txs.source, txs.currency)
            ).all()
            first, last = conn.execute(
                select(func.min(txs.event_time), func.max(txs.event_time))
            ).one()
            label_rows = conn.execute(
                select(labels.is_fraud, labels.fraud_type, func.count()).group_by(
                    labels.is_fraud, labels.fraud_type
                )
            ).all()
            logins = conn.execute(select(func.count()).select_from(t.logins)).scalar_one()
            reasons = conn.execute(
                select(letters.reason, func.count())
                .group_by(letters.reason)
                .order_by(letters.reason)
            ).all()
        sources: dict[str, SourceTotals] = {}
        for source, currency, count, amount in per_source:
            totals = sources.setdefault(source, SourceTotals(transactions=0, amounts={}))
            totals.transactions += count
            totals.amounts[currency] = quantize_money(Decimal(amount or 0))
        fraud_by_type: dict[str, int] = {}
        for is_fraud, fraud_type, count in label_rows:
            if is_fraud:
                key = fraud_type or "unspecified"
                fraud_by_type[key] = fraud_by_type.get(key, 0) + count
        return StoreSummary(
            transactions=sum(s.transactions for s in sources.values()),
            sources=sources,
            first_event_time=first,
            last_event_time=last,
            labels=sum(count for _fraud, _type, count in label_rows),
            fraud_labels=sum(fraud_by_type.values()),
            fraud_by_type=dict(sorted(fraud_by_type.items())),
            logins=logins,
            dead_letters=sum(count for _reason, count in reasons),
            dead_letters_by_reason={reason: count for reason, count in reasons},
        )
