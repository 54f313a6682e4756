"""SQLite's card, customer and merchant lookups through `entity_index`, kept in bulk: exact
whether a transaction is indexed, not yet, or in a run cut short, and built by the migration."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, text

from fraudwatch.analytics.timeline import transactions_of
from fraudwatch.events.formats.base import Parsed
from fraudwatch.events.ingest import Ingestion
from fraudwatch.events.model import Card, Merchant, Transaction, content_hash
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import WriteBatch, open_store
from fraudwatch.storage.backends import sqlite as sqlite_backend
from fraudwatch.storage.schema import _config
from tests.conftest import make_transaction

START = datetime(2026, 3, 1, tzinfo=UTC)
CARDS = [f"tok_{c * 32}" for c in "abcd"]
CUSTOMERS = ["cust-1", "cust-2", "cust-3"]
MERCHANTS = ["m-1", "m-2"]


def _transactions(n: int, seed: int, offset: int = 0) -> list[Transaction]:
    """Random entities; many equal times (ties are ordered by transaction_id)."""
    rnd = random.Random(seed)
    return [
        make_transaction(
            transaction_id=f"tx-{offset + i:05d}-{rnd.randrange(100):02d}",
            event_time=START + timedelta(minutes=rnd.randrange(40)),
            card=Card(token=rnd.choice(CARDS)),
            customer_id=rnd.choice([*CUSTOMERS, None]),
            merchant=Merchant(id=rnd.choice(MERCHANTS)),
        )
        for i in range(n)
    ]


def _gated_sorts(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Runs sorted by a thread wait for the returned event (so a test sees one under way)."""
    gate, sort = threading.Event(), sqlite_backend._sort_run

    def gated(*args: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            assert gate.wait(10), "the test never let the sort go on"
        return sort(*args)

    monkeypatch.setattr(sqlite_backend, "_sort_run", gated)
    return gate


def _write(store: Any, txs: list[Transaction]) -> None:
    store.write(WriteBatch(transactions=[(tx, content_hash(tx)) for tx in txs]))


def _expected(
    txs: list[Transaction],
    field: str,
    value: str,
    limit: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    def of(tx: Transaction) -> str | None:
        if field == "card_token":
            return tx.card.token if tx.card else None
        if field == "merchant_id":
            return tx.merchant.id if tx.merchant else None
        return tx.customer_id

    chosen = [
        tx
        for tx in txs
        if of(tx) == value
        and (start is None or tx.event_time >= start)
        and (end is None or tx.event_time < end)
    ]
    chosen.sort(key=lambda tx: (tx.event_time, tx.transaction_id), reverse=True)
    return [tx.transaction_id for tx in chosen[:limit]]


def _check_lookups(store: Any, txs: list[Transaction]) -> None:
    cut = START + timedelta(minutes=20)
    for field, values in (
        ("card_token", CARDS),
        ("customer_id", CUSTOMERS),
        ("merchant_id", MERCHANTS),
    ):
        for value in values:
            for limit in (1, 3, 7, 1000):
                found = store.find_transactions(**{field: value}, limit=limit)
                assert [tx.transaction_id for tx in found] == _expected(txs, field, value, limit)
            found = store.find_transactions(**{field: value}, start=cut, limit=5)
            assert [tx.transaction_id for tx in found] == _expected(txs, field, value, 5, start=cut)
            found = store.find_transactions(**{field: value}, end=cut, limit=5)
            assert [tx.transaction_id for tx in found] == _expected(txs, field, value, 5, end=cut)
    both = store.find_transactions(card_token=CARDS[0], customer_id=CUSTOMERS[0], limit=4)
    expected = [
        tx for tx in txs if tx.card and tx.card.token == CARDS[0] and tx.customer_id == CUSTOMERS[0]
    ]
    expected.sort(key=lambda tx: (tx.event_time, tx.transaction_id), reverse=True)
    assert [tx.transaction_id for tx in both] == [tx.transaction_id for tx in expected[:4]]


def _entries(txs: list[Transaction]) -> int:
    return sum(1 for tx in txs for v in (tx.card, tx.customer_id, tx.merchant) if v)


def _indexed(store: Any) -> tuple[int, int]:
    with store.engine.connect() as conn:
        upto = conn.execute(text("SELECT coalesce(max(upto), 0) FROM entity_mark")).scalar()
        entries = conn.execute(text("SELECT count(*) FROM entity_index")).scalar()
    return int(upto), int(entries)


@pytest.fixture
def store(tmp_path: Path, keyring: KeyRing) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'fw.db'}", keyring) as store:
        store.migrate()
        yield store


def test_lookups_are_exact_before_during_and_after_indexing(store: Any) -> None:
    first, second = _transactions(120, seed=1), _transactions(80, seed=2, offset=500)
    _write(store, first)
    assert _indexed(store) == (0, 0)  # nothing due yet: every row is read by rowid
    _check_lookups(store, first)

    # A run cut short after its first chunk (its entries in key order, the mark not moved).
    assert store.index_entities(rows=1, chunk=50, wait=True) == 50
    assert _indexed(store) == (0, 50)
    _check_lookups(store, first)
    _write(store, second)  # written while the run is under way
    _check_lookups(store, first + second)

    while store.index_entities(rows=1, chunk=50, wait=True):
        pass
    upto, entries = _indexed(store)
    assert upto == 200  # the second run took the rows written meanwhile
    assert entries == _entries(first + second)
    _check_lookups(store, first + second)

    third = _transactions(30, seed=3, offset=900)
    _write(store, third)  # after the mark: found by rowid
    _check_lookups(store, first + second + third)


def test_a_run_cut_short_by_a_crash_is_done_again(tmp_path: Path, keyring: KeyRing) -> None:
    url = f"sqlite:///{tmp_path / 'fw.db'}"
    txs = _transactions(150, seed=4)
    with open_store(url, keyring) as store:
        store.migrate()
        _write(store, txs)
        store.index_entities(rows=1, chunk=100, wait=True)  # then the process dies
    with open_store(url, keyring) as store:  # a new process: no run in memory
        store.migrate()
        while store.index_entities(rows=1, chunk=100, wait=True):
            pass
        assert _indexed(store) == (150, _entries(txs))  # the first chunk's entries are not doubled
        _check_lookups(store, txs)


def test_an_indexing_run_waits_for_enough_rows_or_time(store: Any) -> None:
    _write(store, _transactions(10, seed=5))
    assert store.index_entities(rows=11, age_s=3600, wait=True) == 0  # too few, too soon
    assert store.index_entities(rows=10, age_s=3600, wait=True) > 0
    _write(store, _transactions(5, seed=6, offset=100))
    assert store.index_entities(rows=100, age_s=3600, wait=True) == 0
    assert store.index_entities(rows=100, age_s=0, wait=True) > 0  # the time has come
    assert _indexed(store)[0] == 15


def test_a_write_past_the_lag_limit_indexes_itself(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_backend, "INDEX_LAG_LIMIT", 25)
    _write(store, _transactions(20, seed=7))
    assert _indexed(store)[0] == 0
    txs = _transactions(20, seed=8, offset=100)
    _write(store, txs)  # 40 unindexed: over the limit
    assert _indexed(store)[0] == 40


def test_the_timeline_pages_through_indexed_and_newer_rows(store: Any) -> None:
    first, second = _transactions(90, seed=9), _transactions(40, seed=10, offset=300)
    _write(store, first)
    while store.index_entities(rows=1, wait=True):
        pass
    _write(store, second)
    everything = first + second
    for card in CARDS:
        expected = _expected(everything, "card_token", card, 10_000)
        seen: list[str] = []
        after = None
        with store.engine.connect() as conn:
            while True:
                items, after = transactions_of(
                    conn, card_token=card, customer_id=None, limit=4, after=after
                )
                seen.extend(item.transaction_id for item in items)
                if after is None:
                    break
        assert seen == expected


def test_the_migration_indexes_the_rows_stored_before(tmp_path: Path, keyring: KeyRing) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    txs = _transactions(60, seed=11)
    with open_store(url, keyring) as store:
        store.migrate()
        _write(store, txs)
        with store.engine.begin() as conn:  # as revision 0011 left it: the rows in its indexes
            command.downgrade(_config(conn), "0011")
        with store.engine.connect() as conn:
            names = conn.execute(text("SELECT name FROM sqlite_schema WHERE type = 'index'"))
            assert "ix_transactions_card_token_time" in {name for (name,) in names}
        store.migrate()
        with store.engine.connect() as conn:
            names = {n for (n,) in conn.execute(text("SELECT name FROM sqlite_schema"))}
        assert "ix_transactions_card_token_time" not in names
        assert _indexed(store) == (60, _entries(txs))
        _check_lookups(store, txs)


def test_a_run_is_written_in_chunks_and_read_beside_the_writes(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each call writes four entries per transaction written since the last call, at least
    `INDEX_CHUNK` (so a writer keeps up, and pauses little when few come); without `wait`, a
    run's entries are read by a thread, and calls write nothing until they are."""
    monkeypatch.setattr(sqlite_backend, "INDEX_CHUNK", 10)
    txs = _transactions(100, seed=12)
    _write(store, txs)
    assert store.index_entities(rows=1, chunk=50, wait=True) == 50
    few = _transactions(5, seed=13, offset=500)
    _write(store, few)
    assert store.index_entities(rows=1) == 4 * 5  # the run under way, 5 written since
    assert store.index_entities(rows=1) == 10  # none since: the least
    while store.index_entities(rows=1, wait=True):
        pass
    assert _indexed(store) == (105, _entries(txs + few))

    more = _transactions(30, seed=14, offset=900)
    _write(store, more)
    gate = _gated_sorts(monkeypatch)
    assert store.index_entities(rows=1) == 0  # the run is being sorted
    assert store.index_entities(rows=1) == 0  # still
    gate.set()
    written, deadline = 0, time.monotonic() + 10
    while not written and time.monotonic() < deadline:
        time.sleep(0.01)
        written = store.index_entities(rows=1)
    assert written == 10  # nothing written since the call that started it: the least
    while store.index_entities(rows=1):
        pass
    assert _indexed(store) == (135, _entries(txs + few + more))
    _check_lookups(store, txs + few + more)


def test_a_bulk_load_ends_with_every_transaction_indexed(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingestion leaves nothing for the next writer to index (lookups would read its last
    rows one by one), however many runs that takes."""
    monkeypatch.setattr(sqlite_backend, "INDEX_RUN_ROWS", 7)
    txs = _transactions(40, seed=11)
    records = [Parsed(position=i + 1, raw="", events=(tx,)) for i, tx in enumerate(txs)]
    Ingestion(store, source="test", format="json", batch_size=6).run(records)
    assert _indexed(store) == (40, _entries(txs))
    with store.engine.connect() as conn:
        tail = conn.execute(
            text("SELECT count(*) FROM transactions WHERE rowid > (SELECT upto FROM entity_mark)")
        ).scalar()
    assert tail == 0
    _check_lookups(store, txs)


def test_a_writer_calling_between_batches_reads_the_bounds_only_when_a_run_may_be_due(
    store: Any,
) -> None:
    """Not two queries after every batch: the bounds are read again once what was unindexed
    plus what this store wrote since could make a run, or once the time has passed."""
    reads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "max(rowid)" in statement:
            reads.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    txs = _transactions(60, seed=12)
    _write(store, txs[:10])
    assert store.index_entities(rows=50, age_s=3600, wait=True) == 0  # 10 unindexed: read
    assert len(reads) == 1
    for start in range(10, 40, 5):
        _write(store, txs[start : start + 5])
        assert store.index_entities(rows=50, age_s=3600, wait=True) == 0
    assert len(reads) == 1  # 40 at most: no run possible, nothing read
    _write(store, txs[40:50])
    assert store.index_entities(rows=50, age_s=3600, wait=True) > 0  # 50: read, and a run
    assert len(reads) == 2 and _indexed(store)[0] == 50
    _write(store, txs[50:])
    assert store.index_entities(rows=50, age_s=0, wait=True) > 0  # the time has come
    assert len(reads) == 3 and _indexed(store)[0] == 60
    _check_lookups(store, txs)


def test_an_in_memory_store_sorts_its_runs_on_its_one_connection(keyring: KeyRing) -> None:
    """`sqlite://` has a single connection: a run is sorted there at once, and the runs' scratch
    database is attached to it once."""
    with open_store("sqlite://", keyring) as store:
        store.migrate()
        txs = _transactions(90, seed=15)
        _write(store, txs[:60])
        assert store.index_entities(rows=1, chunk=40) == 40  # sorted at once, not by a thread
        while store.index_entities(rows=1):
            pass
        _write(store, txs[60:])
        assert _indexed(store) == (60, _entries(txs[:60]))
        _check_lookups(store, txs)  # 30 read by rowid
        while store.index_entities(rows=1, age_s=0):
            pass
        assert _indexed(store) == (90, _entries(txs))
        _check_lookups(store, txs)


def test_only_the_writes_connection_writes_the_database_and_the_scratch_file_goes_at_close(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sorting connection writes the runs' scratch database only; the copies into
    `entity_index` are made on the pool's connection, the one the batches are written on. (In
    WAL mode a connection drops its page cache whenever another has committed.) Closing the
    store deletes the scratch file."""
    statements: list[str] = []
    connect = sqlite_backend.SQLiteEventStore._run_connection

    def traced(self: Any) -> Any:
        raw = connect(self)
        raw.set_trace_callback(statements.append)
        return raw

    monkeypatch.setattr(sqlite_backend.SQLiteEventStore, "_run_connection", traced)
    writes: set[int] = set()
    txs = _transactions(120, seed=17)
    for start in range(0, 120, 30):
        _write(store, txs[start : start + 30])
        while store.index_entities(rows=1, chunk=25, wait=True):
            pass
        if start == 0:  # from the first run on (it took the pool's connection for sorting)
            event.listen(store.engine, "checkout", lambda dbapi, *_: writes.add(id(dbapi)))
    assert _indexed(store) == (120, _entries(txs))
    _check_lookups(store, txs)
    sorting = id(store._run_proxy.driver_connection)
    assert sorting not in writes and len(writes) == 1  # the batches and the copies: one
    changes = [s.strip() for s in statements if s.lstrip().upper().startswith(("INSERT", "DELETE"))]
    scratch_only = (
        f"INSERT INTO {sqlite_backend.RUN_SCHEMA}.",
        f"DELETE FROM {sqlite_backend.RUN_SCHEMA}.",
    )
    assert changes and all(s.startswith(scratch_only) for s in changes), changes
    scratch = Path(store._run_path)
    assert scratch.exists()
    store.close()
    assert not scratch.exists()


def test_a_store_closed_while_a_run_is_sorted_leaves_it_to_the_next(
    tmp_path: Path, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing waits for the sort (it uses the indexing connection); nothing of the run was
    written, so the next store indexes those transactions."""
    url = f"sqlite:///{tmp_path / 'fw.db'}"
    txs = _transactions(50, seed=16)
    gate = _gated_sorts(monkeypatch)
    with open_store(url, keyring) as store:
        store.migrate()
        _write(store, txs)
        assert store.index_entities(rows=1) == 0  # a thread sorts it
        threading.Timer(0.3, gate.set).start()
        started = time.monotonic()
        store.close()
        assert time.monotonic() - started >= 0.25  # it waited for the sort
    with open_store(url, keyring) as store:
        assert _indexed(store) == (0, 0)
        store.maintain(finish=True)
        assert _indexed(store) == (50, _entries(txs))
        _check_lookups(store, txs)


def test_a_run_is_sorted_in_the_index_key_order(store: Any) -> None:
    """The run's entries, read by their rowid in the scratch database, come in the order of
    `entity_index`'s key (kind, key, event_time, tx_rowid): one kind after another, each sorted
    on its own."""
    txs = _transactions(200, seed=18)
    _write(store, txs)
    raw = store._run_connection()
    newest, done, last = sqlite_backend._sort_run(raw, 40, 180)
    rows = raw.execute(
        f"SELECT kind, key, event_time, tx_rowid FROM {sqlite_backend.RUN_SCHEMA}.index_run "
        "ORDER BY rowid"
    ).fetchall()
    assert (newest, done, last) == (180, 0, len(rows))
    assert len(rows) == _entries(txs[40:180]) and len({r[0] for r in rows}) == 3
    assert rows == sorted(rows)
    assert {r[3] for r in rows} == set(range(41, 181))
