"""The embedded event store: one SQLite file in WAL mode.

Every connection gets `journal_mode=WAL` (readers never block the writer), `synchronous=NORMAL`
(durable at checkpoints, fast commits), `foreign_keys=ON` and a 64 MiB page cache. Transactions
are begun by us, not by the sqlite3 module, so a write can take the write lock up front
(`BEGIN IMMEDIATE`): the dedup lookup and the inserts then see one consistent database, and a
concurrent writer waits for the busy timeout instead of failing half-way. Rows go in with one
`executemany` per table, encoded as SQLite consumes them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import msgspec
from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    Table,
    create_engine,
    event,
    make_url,
    select,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, StaticPool

from fraudwatch.decisions.model import Decision, decision_digest
from fraudwatch.events.model import Transaction
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import tables as t
from fraudwatch.storage.backends.base import SqlEventStore, _chunks
from fraudwatch.storage.batching import KeyedRows
from fraudwatch.storage.codec import SQLITE_VALUES
from fraudwatch.storage.entities import KINDS, indexed_upto
from fraudwatch.storage.model import DECISION, TRANSACTION, WriteBatch
from fraudwatch.storage.urls import in_memory

log = logging.getLogger(__name__)
BUSY_TIMEOUT_S = 30
CACHE_KIB = 64 * 1024
WAL_LIMIT_BYTES = 1024 * 1024 * 1024
"""How large the write-ahead log may grow under background checkpoints before the writer has it
started over (`checkpoint_in_background`, `restart_log_if_due`); the writer process passes the
setting `store_wal_limit_mb`, of the same default."""
INDEX_AFTER_ROWS = 50_000
INDEX_AFTER_S = 10.0
"""A writer indexes the card, customer and merchant of the transactions stored since the last
time (`index_entities`, in key order) once there are this many, or once this long has passed:
the fewer times, the fewer pages each entry costs (in the benchmark scenario's 600,000-row
database, sorted runs of 50,000 rows cost a third of what inserting at each write did, runs of
10,000 no less), the more rows a lookup reads by rowid meanwhile."""
INDEX_CHUNK = 2_000  # entries per write transaction of an indexing run at least (milliseconds)
INDEX_RUN_ROWS = 60_000  # transactions per run at most: its entries are held in memory
INDEX_LAG_LIMIT = 200_000
"""A store that has written this many transactions without an indexing call indexes them in
the write that passes it, so a writer that never calls `maintain` keeps lookups quick."""
_Run = tuple[int, int, int]
"""An indexing run in `entity_run.index_run`: (its last transaction's rowid, the entries' rowid
copied up to, the last entry's rowid)."""
RUN_SCHEMA = "entity_run"
"""The indexing run's sorted entries live in a scratch database file of the store's own, attached
under this name both to the connection that sorts them (on a thread) and to the connection that
writes the batches, which copies them into `entity_index`. Copied by the sorting connection, as
before, every copy made the next batch's write start with an empty page cache (in WAL mode a
connection drops its whole cache when another one has committed): 55 against 74 µs of writer
CPU per transaction, the same batches alternated with and without a commit of another connection
between them (docs/benchmarks.md)."""
BEGIN_OPTION = "fraudwatch_sqlite_begin"
"""Execution option: `{BEGIN_OPTION: "IMMEDIATE"}` makes a write transaction take SQLite's write
lock at BEGIN, so it waits (busy timeout) instead of failing when it later upgrades a read lock."""
_json = msgspec.json.Encoder()


def _json_serializer(value: Any) -> str:
    return _json.encode(value).decode()


def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _on_begin
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        # A bigger page cache keeps the five transaction indexes in memory during bulk writes
        # (+30% rows/s at 100k rows); pages are allocated only as they are used.
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    finally:
        cursor.close()


def _no_autocheckpoint(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _attach_run(raw: sqlite3.Connection, path: str) -> bool:
    """Attach the scratch database of the indexing runs (`RUN_SCHEMA`) unless it is; True if
    this call attached it."""
    if any(row[1] == RUN_SCHEMA for row in raw.execute("PRAGMA database_list")):
        return False
    raw.execute(f"ATTACH DATABASE ? AS {RUN_SCHEMA}", (path,))
    return True


def _sort_run(raw: sqlite3.Connection, upto: int, newest: int) -> _Run:
    """The entries of the transactions in (upto, newest], sorted by key by SQLite (without the
    interpreter lock) into `entity_run.index_run`, whose rowids are then their order: one kind
    after the other, each sorted by (key, event_time, rowid). Sorted all at once by (kind, key,
    ...), nearly every comparison found the kinds equal and went on to SQLite's general record
    comparison; led by the text key, its sorter compares that text directly: 8.6 against 10.7
    µs of CPU per transaction (docs/benchmarks.md)."""
    raw.execute(
        f"CREATE TABLE IF NOT EXISTS {RUN_SCHEMA}.index_run "
        "(kind INTEGER, key TEXT, event_time TEXT, tx_rowid INTEGER)"
    )
    raw.execute(f"DELETE FROM {RUN_SCHEMA}.index_run")  # the last run, or one cut short
    for column, kind in sorted(KINDS.items(), key=lambda item: item[1]):
        raw.execute(
            f"INSERT INTO {RUN_SCHEMA}.index_run SELECT {kind}, {column}, event_time, rowid "
            f"FROM main.transactions WHERE rowid > ? AND rowid <= ? AND {column} IS NOT NULL "
            "ORDER BY 2, 3, 4",
            (upto, newest),
        )
    first, last = raw.execute(
        f"SELECT min(rowid), max(rowid) FROM {RUN_SCHEMA}.index_run"
    ).fetchone()
    return newest, (first or 1) - 1, last or 0


def _stored_sql(table: str, n: int) -> str:
    """Which of `n` ids have a row in `table`: transactions by their primary key's prefix (rows
    stored before revision 0011 have a registry row too), decisions through their transaction's
    key or their registry row (`tables.decisions_of`; joins, the fastest form here). Parameters:
    the ids, and for decisions the ids again."""
    marks = ", ".join("?" * n)
    if table != "decisions":
        return f"SELECT transaction_id FROM {table} WHERE transaction_id IN ({marks})"
    return (
        "SELECT x.transaction_id FROM transactions AS x JOIN decisions AS d"
        " ON d.event_time = x.event_time AND d.transaction_id = x.transaction_id"
        f" WHERE x.transaction_id IN ({marks}) UNION ALL"
        " SELECT k.id FROM event_keys AS k JOIN decisions AS d"
        " ON d.event_time = k.event_time AND d.transaction_id = k.id"
        f" WHERE k.kind = '{DECISION}' AND k.id IN ({marks})"
    )


class SQLiteEventStore(SqlEventStore):
    """The embedded store (`sqlite:///path/to/fraudwatch.db`; `sqlite://` is in memory)."""

    value_style = SQLITE_VALUES
    id_chunk = 500  # well under SQLite's bound-parameter limit
    own_keys = frozenset((TRANSACTION, DECISION))  # see `_insert_new`

    _checkpointer: tuple[threading.Thread, threading.Event] | None = None
    _restart_wal = False  # set by the checkpoint thread: the log is over its limit
    _restarted_frames = -1  # the size of the log the last restart copied (until a write resets it)
    _index_run: _Run | Future[_Run] | None = None  # the run under way, or being sorted
    _run_proxy: PoolProxiedConnection | None = None  # the indexing connection (_run_connection)
    _run_path: str | None = None  # the scratch database of the runs (`RUN_SCHEMA`)
    _written = 0  # transactions written since the last indexing call
    _unchecked = 0  # transactions written since the index's bounds were last read
    _tail: int | None = None  # transactions after the mark then (None: not read yet)
    _indexed_at: float | None = None  # when the last indexing run ended (monotonic)

    def __init__(self, url: str, keyring: KeyRing, *, months_ahead: int = 3) -> None:
        super().__init__(url, keyring, months_ahead=months_ahead)
        self._indexing = threading.Lock()  # one indexing call at a time
        self._writing = threading.local()  # the batch being written, per thread: `_insert_new`

    def _create_engine(self, url: str) -> Engine:
        options: dict[str, Any] = {
            "json_serializer": _json_serializer,
            "json_deserializer": msgspec.json.decode,
        }
        if in_memory(url):
            # One shared connection, or every checkout would see its own empty database.
            engine = create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}, **options
            )
        else:
            database = make_url(url).database
            if database:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S}, **options)
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        return engine

    def checkpoint_in_background(
        self, every_s: float = 2.0, wal_limit_bytes: int = WAL_LIMIT_BYTES
    ) -> None:
        """Take the WAL checkpoints off this store's writes: its connections stop checkpointing
        at commit (SQLite's default, when the WAL passes 1,000 pages: the committing writer then
        copies the WAL into the database and waits for the fsync), and a thread of its own does
        it every `every_s` instead, on its own connection, while the writes go on (the sqlite3
        module lets go of the interpreter lock meanwhile). For a process whose job is writing:
        the decision writer (`scoring/writer_process.py`).

        A checkpoint copies each page the writes changed since the last one once, however often
        they changed it, so rarer checkpoints copy less per write: with random-key indexes,
        most pages are changed again within seconds. But SQLite starts the log over only when a
        write begins with the whole log copied, which a checkpoint running beside steady writes
        never achieves: the log would grow without end. So once it holds more than
        `wal_limit_bytes`, the thread flags it, and the writer calls `restart_log_if_due`
        between two writes.
        """
        database = make_url(str(self._engine.url)).database
        if not database or in_memory(str(self._engine.url)) or self._checkpointer is not None:
            return
        event.listen(self._engine, "connect", _no_autocheckpoint)
        self._engine.dispose()  # pooled connections reopen with the setting
        stop = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(database, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            try:
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                while not stop.wait(every_s):
                    try:
                        _busy, frames, _copied = conn.execute(
                            "PRAGMA wal_checkpoint(PASSIVE)"
                        ).fetchone()
                        # (A log already restarted is reset by the next write, not again.)
                        if frames * page_size > wal_limit_bytes:
                            self._restart_wal = frames != self._restarted_frames
                    except sqlite3.Error:  # busy now: the next round catches up
                        log.warning("WAL checkpoint failed; retrying", exc_info=True)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                conn.close()

        thread = threading.Thread(target=run, name="sqlite-checkpoint", daemon=True)
        self._checkpointer = (thread, stop)
        thread.start()

    def close(self) -> None:
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join(30)
            self._checkpointer = None
        with self._indexing:
            if isinstance(self._index_run, Future):  # a sort under way uses the connection
                with contextlib.suppress(Exception):
                    self._index_run.result(timeout=60)
            self._index_run = None
            if self._run_proxy is not None:
                self._run_proxy.close()
                self._run_proxy = None
        super().close()
        if self._run_path is not None:
            Path(self._run_path).unlink(missing_ok=True)
            self._run_path = None

    @contextmanager
    def _write_transaction(self, run_path: str | None = None) -> Iterator[Connection]:
        """With `run_path`, the runs' scratch database attached first (`RUN_SCHEMA`; SQLite
        attaches only outside a transaction)."""
        with self._engine.connect() as conn:
            if run_path is not None:
                _attach_run(cast(sqlite3.Connection, conn.connection.driver_connection), run_path)
            conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                yield conn

    # -- the entity index (storage/entities.py) --------------------------------------------------

    def write(self, batch: WriteBatch) -> None:
        super().write(batch)
        self._written += len(batch.transactions)
        self._unchecked += len(batch.transactions)
        if self._written > INDEX_LAG_LIMIT:
            self.maintain(finish=True)

    def maintain(self, *, finish: bool = False) -> None:
        """The next part of the entity index when due; with `finish`, every stored transaction
        now, a run per write transaction."""
        try:
            if not finish:
                self.index_entities()
                return
            run = len(KINDS) * INDEX_RUN_ROWS
            while self.index_entities(rows=1, age_s=0, wait=True, chunk=run):
                pass
        except Exception:  # lookups read the rows not yet indexed; the next call tries again
            log.exception("indexing the stored transactions failed")

    def index_entities(
        self,
        *,
        rows: int = INDEX_AFTER_ROWS,
        age_s: float = INDEX_AFTER_S,
        chunk: int | None = None,
        wait: bool = False,
    ) -> int:
        """Adds the card, customer and merchant entries of the transactions stored after
        `entity_mark.upto` to `entity_index`, once there are `rows` of them or `age_s` has
        passed since the last run. A run sorts them all by key into the runs' scratch database
        (`RUN_SCHEMA`), on the indexing connection (on a thread of its own unless `wait`: until
        it is ready, calls write nothing), and copies them from there on the pool's connection,
        the one the batches are written on, `chunk` entries at a time, one write transaction
        per call; by default four entries per transaction this store wrote since the last call,
        at least `INDEX_CHUNK`, so a writer calling this between its batches keeps up without
        pausing for long. The last one moves the mark. No entry passes through Python.
        Idempotent: a run cut short by a crash is done again. Returns the entries written."""
        if chunk is None:
            chunk = max(INDEX_CHUNK, 4 * self._written)
        self._written = 0
        with self._indexing:
            if self._index_run is None:
                self._index_run = self._next_run(rows, age_s, wait)
            run = self._index_run
            if isinstance(run, Future):  # being sorted
                if not wait and not run.done():
                    return 0
                self._index_run = None  # (if sorting failed, the next call starts over)
                run = self._index_run = run.result()
            if run is None:
                return 0
            upto, done, last = run
            end = min(done + chunk, last)
            run_path = self._run_path
            assert run_path is not None  # the run was sorted in it
            # On a connection of the pool, the one the batches are written on (`RUN_SCHEMA`).
            with self._write_transaction(run_path) as conn:
                conn.exec_driver_sql(
                    "INSERT OR IGNORE INTO main.entity_index SELECT kind, key, event_time, "
                    f"tx_rowid FROM {RUN_SCHEMA}.index_run WHERE rowid > ? AND rowid <= ?",
                    (done, end),
                )
                if end == last:
                    conn.exec_driver_sql(
                        "INSERT INTO main.entity_mark (id, upto) VALUES (1, ?) "
                        "ON CONFLICT (id) DO UPDATE SET upto = max(upto, excluded.upto)",
                        (upto,),
                    )
            self._index_run = (upto, end, last) if end < last else None
            if end == last:
                self._indexed_at = time.monotonic()
            return end - done

    def _run_connection(self) -> sqlite3.Connection:
        """The connection that sorts the runs, kept out of the pool for the store's life, with
        the runs' scratch database attached (`RUN_SCHEMA`: a file in the temporary directory,
        created here, deleted by `close`; only this connection writes it, without a journal)."""
        if self._run_path is None:
            handle, self._run_path = tempfile.mkstemp(prefix="fraudwatch-entity-run-", suffix=".db")
            os.close(handle)  # an empty file is an empty database
        if self._run_proxy is None:
            self._run_proxy = self._engine.raw_connection()
        raw = cast(sqlite3.Connection, self._run_proxy.driver_connection)
        if _attach_run(raw, self._run_path):
            raw.execute(f"PRAGMA {RUN_SCHEMA}.journal_mode=OFF")
            raw.execute(f"PRAGMA {RUN_SCHEMA}.synchronous=OFF")
        return raw

    def _index_bounds(self) -> tuple[int, int]:
        """(the mark, the newest transaction's rowid)."""
        with self._engine.connect() as conn:
            newest = conn.exec_driver_sql("SELECT max(rowid) FROM transactions").scalar()
            return indexed_upto(conn), int(newest or 0)

    def _next_run(self, rows: int, age_s: float, wait: bool) -> _Run | Future[_Run] | None:
        """The next run if one is due: sorted now (`wait`, or an in-memory database, which has
        one connection), else by a thread while the writes go on. The bounds are read only
        when a run may be due: by what was unindexed at the last reading plus what this store
        wrote since (rows other writers stored count once `age_s` has passed), or by time;
        not after every batch of a writer calling this between batches."""
        now = time.monotonic()
        if self._indexed_at is None:  # the first call: the time counts from here
            self._indexed_at = now
        young = now - self._indexed_at < age_s
        if self._tail is not None and self._tail + self._unchecked < rows and young:
            return None
        upto, newest = self._index_bounds()
        self._tail, self._unchecked = newest - upto, 0
        if newest <= upto or (newest - upto < rows and young):
            return None
        newest = min(newest, upto + INDEX_RUN_ROWS)
        raw = self._run_connection()
        if wait or in_memory(str(self._engine.url)):
            return _sort_run(raw, upto, newest)
        future: Future[_Run] = Future()

        def sort() -> None:
            try:
                future.set_result(_sort_run(raw, upto, newest))
            except BaseException as exc:  # handed to the writer's next call
                future.set_exception(exc)

        threading.Thread(target=sort, name="sqlite-index-run", daemon=True).start()
        return future

    def restart_log_if_due(self) -> bool:
        """When the checkpoint thread found the log over its limit: copy what is left of it
        into the database, so that the next write starts the log over. For the writer, between
        two writes (it holds no write then); it costs a checkpoint of what was written since the
        thread's last round. It never waits: with a reader on an older snapshot, or the thread
        checkpointing at that moment, it copies what it can and stays due. True if it ran."""
        if not self._restart_wal:
            return False
        with self._engine.connect() as conn:
            raw = cast(sqlite3.Connection, conn.connection.driver_connection)
            raw.execute("PRAGMA busy_timeout=0")
            try:
                busy, frames, _copied = raw.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                self._restart_wal = bool(busy)
                if not busy:
                    self._restarted_frames = frames
            except sqlite3.OperationalError:  # the thread is checkpointing: the next call
                pass
            finally:
                raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        return True

    def _before_write(self, parts: Sequence[KeyedRows]) -> None:
        self._writing.transactions = {
            (key[0], key[2]) for part in parts if part.kind == TRANSACTION for key in part.keys
        }

    def _insert_new(self, conn: Connection, part: KeyedRows) -> None:
        ids = [key[0] for key in part.keys]
        # A transaction's or a decision's key is its own table's primary key here (no partitions
        # to prune, so no registry row is needed to find it): one random-key B-tree insert fewer
        # per event, most of the cost of a write being such inserts.
        own_key = part.kind in self.own_keys
        stored = (
            self._stored_in_table(conn, part.table, ids)
            if own_key
            else self._stored_ids(conn, part.kind, ids)
        )
        fresh = {key[0] for key in part.keys if key[0] not in stored}
        if not fresh:
            return
        # The sqlite3 connection itself, to stream rows into executemany as they are encoded.
        raw = cast(sqlite3.Connection, conn.connection.driver_connection)
        registered = (key for key in part.keys if key[0] in fresh)
        if part.kind == DECISION:
            # A decision is found through its transaction's row (`tables.decisions_of`); one
            # written without its transaction in the same batch (never by the scorers) gets
            # a registry row to be found by instead (its hash there is unused: `known_hashes`).
            batch: set[tuple[str, Any]] = getattr(self._writing, "transactions", set())
            registered = (
                (key[0], b"", key[2]) for key in registered if (key[0], key[2]) not in batch
            )
        if not own_key or part.kind == DECISION:
            raw.executemany(
                "INSERT OR IGNORE INTO event_keys (kind, id, content_hash, event_time) "
                "VALUES (?, ?, ?, ?)",
                ((part.kind, *key) for key in registered),
            )
        columns = ", ".join(part.columns)
        marks = ", ".join("?" * len(part.columns))
        raw.executemany(
            f"INSERT OR IGNORE INTO {part.table} ({columns}) VALUES ({marks})",
            part.rows(None if len(fresh) == len(part.keys) else fresh),
        )

    def _stored_in_table(self, conn: Connection, table: str, ids: list[str]) -> set[str]:
        """The ids among `ids` with a row in `table`, by keys alone (`_stored_sql`)."""
        stored: set[str] = set()
        for chunk in _chunks(ids, self.id_chunk):
            parameters = (*chunk, *chunk) if table == "decisions" else chunk
            rows = conn.exec_driver_sql(_stored_sql(table, len(chunk)), tuple(parameters))
            stored.update(row_id for (row_id,) in rows)
        return stored

    def get_transaction(self, transaction_id: str) -> Transaction | None:
        """The stored transaction, decrypted, by the transactions' own primary key."""
        row = self._first_row(t.transactions, transaction_id)
        return None if row is None else self._decoder.transaction(row)

    def get_decision(self, transaction_id: str) -> Decision | None:
        """The stored decision of a transaction, through its transaction's key."""
        row = self._first_row(t.decisions, transaction_id)
        return None if row is None else self._decoder.decision(row)

    def _first_row(self, table: Table, transaction_id: str) -> RowMapping | None:
        """The earliest row of `transaction_id` in transactions or decisions."""
        rows = table.c
        found = (
            t.decisions_of([transaction_id], "sqlite")
            if table is t.decisions
            else rows.transaction_id == transaction_id
        )
        query = select(table).where(found).order_by(rows.event_time).limit(1)
        with self._engine.connect() as conn:
            return conn.execute(query).mappings().first()

    def known_hashes(self, kind: str, ids: Sequence[str]) -> dict[str, bytes]:
        """As on every store. A transaction's hash is in its row (in the registry for rows
        stored before revision 0011); a decision's is computed from its stored row (decisions
        have no registry row here: `_insert_new`)."""
        if kind == TRANSACTION:
            return self._transaction_hashes(ids)
        if kind != DECISION:
            return super().known_hashes(kind, ids)
        found: dict[str, bytes] = {}
        with self._engine.connect() as conn:
            # Which ids have a decision first, by keys alone: the streaming worker
            # asks this of every batch, and nearly always none has.
            unique = sorted(self._stored_in_table(conn, "decisions", list(dict.fromkeys(ids))))
            for chunk in _chunks(unique, self.id_chunk):
                query = select(t.decisions).where(t.decisions_of(chunk, "sqlite"))
                for row in conn.execute(query).mappings():
                    decision = self._decoder.decision(row)
                    found.setdefault(decision.transaction_id, decision_digest(decision))
        return found

    def _transaction_hashes(self, ids: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        older: list[str] = []  # stored before revision 0011: the hash is in the registry
        unique = list(dict.fromkeys(ids))
        rows = t.transactions.c
        with self._engine.connect() as conn:
            for chunk in _chunks(unique, self.id_chunk):
                query = select(rows.transaction_id, rows.content_hash).where(
                    rows.transaction_id.in_(chunk)
                )
                for row_id, digest in conn.execute(query):
                    if digest is None:
                        older.append(row_id)
                    else:
                        found.setdefault(row_id, bytes(digest))
        if older:
            found.update(super().known_hashes(TRANSACTION, older))
        return found

    def _stored_ids(self, conn: Connection, kind: str, ids: list[str]) -> set[str]:
        stored: set[str] = set()
        for chunk in _chunks(ids, self.id_chunk):
            marks = ", ".join("?" * len(chunk))
            rows = conn.exec_driver_sql(
                f"SELECT id FROM event_keys WHERE kind = ? AND id IN ({marks})", (kind, *chunk)
            )
            stored.update(row_id for (row_id,) in rows)
        return stored
