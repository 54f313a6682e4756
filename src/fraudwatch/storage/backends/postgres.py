"""The distributed event store: PostgreSQL through psycopg 3, monthly partitions, COPY for writes.

A write stores each table's rows in two steps, inside the batch's one transaction:

1. the keys `(id, content hash, time)` are COPYed into a session-local staging table and moved
   into `event_keys` by `INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING id`: the ids
   returned are exactly the events not stored before (nor by a concurrent writer, whose
   uncommitted key makes ours wait, then conflict). Keys go in id order, so two writers of
   overlapping batches wait for each other instead of deadlocking;
2. the rows of those ids are COPYed (binary format) straight into the table; PostgreSQL routes
   each to its monthly partition.

So replays and concurrent writers never store an event twice, although a partitioned table cannot
carry a unique index on the event id alone, and the bulk of the data is copied once, without the
join, sort and speculative insertion an `INSERT ... SELECT ... ON CONFLICT` of full rows costs.
Partitions for the months a batch touches are created before its transaction starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import msgspec
import psycopg
from psycopg.types.json import set_json_dumps
from sqlalchemy import ColumnElement, Connection, Engine, Text, any_, bindparam, create_engine
from sqlalchemy.dialects.postgresql import ARRAY

from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage.backends.base import SqlEventStore
from fraudwatch.storage.batching import KeyedRows
from fraudwatch.storage.codec import POSTGRES_VALUES
from fraudwatch.storage.partitions import Month, PartitionManager, month_of
from fraudwatch.storage.tables import PARTITIONED

_LOCK_KEY = 0x46574D47  # "FWMG": serialises concurrent migrations
_STAGE = "_fw_stage_keys"
_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
    "(id text, content_hash bytea, event_time timestamptz) ON COMMIT DELETE ROWS"
).encode()
_COPY_STAGE = f"COPY {_STAGE} (id, content_hash, event_time) FROM STDIN (FORMAT BINARY)".encode()
_REGISTER_STAGED = (
    f"WITH staged AS (DELETE FROM {_STAGE} RETURNING id, content_hash, event_time) "
    "INSERT INTO event_keys (kind, id, content_hash, event_time) "
    "SELECT %s, id, content_hash, event_time FROM staged ORDER BY id "
    "ON CONFLICT DO NOTHING RETURNING id"
).encode()
_KEY_TYPES = ["text", "bytea", "timestamptz"]
_json = msgspec.json.Encoder()


def _json_serializer(value: Any) -> str:
    return _json.encode(value).decode()


class PostgresEventStore(SqlEventStore):
    """The distributed store (`postgresql://user@host/db`, always through psycopg 3)."""

    value_style = POSTGRES_VALUES
    id_chunk = 10_000  # one array parameter per chunk

    def __init__(self, url: str, keyring: KeyRing, *, months_ahead: int = 3) -> None:
        super().__init__(url, keyring, months_ahead=months_ahead)
        self.partitions = PartitionManager(self._engine, months_ahead=months_ahead)
        self._ahead_checked = False
        self._column_types: dict[str, list[int]] = {}

    def _create_engine(self, url: str) -> Engine:
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"options": "-c timezone=UTC", "application_name": "fraudwatch"},
            json_serializer=_json_serializer,
            json_deserializer=msgspec.json.decode,
        )

    @contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _migration_transaction(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
            yield conn

    def _after_migrate(self) -> None:
        self._column_types.clear()
        self.partitions.forget()
        self.partitions.ensure_ahead()
        self._ahead_checked = True

    def _id_in(self, column: ColumnElement[str], ids: Sequence[str]) -> ColumnElement[bool]:
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Text)))

    def _before_write(self, parts: Sequence[KeyedRows]) -> None:
        if not self._ahead_checked:
            self.partitions.ensure_ahead()
            self._ahead_checked = True
        wanted: dict[str, set[Month]] = {}
        for part in parts:
            if part.table in PARTITIONED and part.keys:
                wanted[part.table] = {month_of(key[2]) for key in part.keys}
        self.partitions.ensure(wanted)

    def _insert_new(self, conn: Connection, part: KeyedRows) -> None:
        raw = cast(psycopg.Connection[Any], conn.connection.driver_connection)
        with raw.cursor() as cursor:
            fresh = self._register_keys(cursor, part)
            if not fresh:
                return
            set_json_dumps(_json.encode, context=cursor)
            types = self._types_of(cursor, part)
            statement = f"COPY {part.table} ({', '.join(part.columns)}) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(statement.encode()) as copy:
                copy.set_types(types)
                # Rows are encrypted as they stream: the server inserts while we encode.
                for row in part.rows(None if len(fresh) == len(part.keys) else fresh):
                    copy.write_row(row)

    @staticmethod
    def _register_keys(cursor: psycopg.Cursor[Any], part: KeyedRows) -> set[str]:
        """Add the part's keys to `event_keys`; return the ids that were not there before."""
        cursor.execute(_CREATE_STAGE)
        with cursor.copy(_COPY_STAGE) as copy:
            copy.set_types(_KEY_TYPES)
            for key in part.keys:
                copy.write_row(key)
        cursor.execute(_REGISTER_STAGED, (part.kind,))
        return {row[0] for row in cursor.fetchall()}

    def _types_of(self, cursor: psycopg.Cursor[Any], part: KeyedRows) -> list[int]:
        """Type oids of the part's columns, which binary COPY needs (cached per store)."""
        types = self._column_types.get(part.table)
        if types is None:
            cursor.execute(
                "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attnum > 0 AND NOT attisdropped",
                (part.table,),
            )
            by_name = {name: oid for name, oid in cursor.fetchall()}
            types = [by_name[column] for column in part.columns]
            self._column_types[part.table] = types
        return types
