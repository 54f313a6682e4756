"""What only the SQLite store does: its connection settings, in-memory databases, and the
tables' own primary keys as the idempotency gate of transactions and decisions."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import text

from fraudwatch.decisions.model import Decision, Outcome, decision_digest
from fraudwatch.events.model import content_hash
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import WriteBatch, open_store
from tests.conftest import make_transaction
from tests.storage.conftest import full_transaction


def test_connections_use_wal_and_foreign_keys(tmp_path: Path, keyring: KeyRing) -> None:
    with open_store(f"sqlite:///{tmp_path / 'deep' / 'dir' / 'fw.db'}", keyring) as store:
        store.migrate()
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert (tmp_path / "deep" / "dir" / "fw.db").exists()


def test_in_memory_store(keyring: KeyRing) -> None:
    tx = full_transaction()
    with open_store("sqlite://", keyring) as store:
        store.migrate()
        store.write(WriteBatch(transactions=[(tx, content_hash(tx))]))
        assert store.get_transaction(tx.transaction_id) == tx


def _main_file_after_writes(path: Path, keyring: KeyRing, background: bool) -> tuple[int, int]:
    """(size of the database file before, after) 2,000 transactions are written in 4 batches."""
    from fraudwatch.storage.backends.sqlite import SQLiteEventStore

    with open_store(f"sqlite:///{path}", keyring) as store:
        assert isinstance(store, SQLiteEventStore)
        store.migrate()
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        before = path.stat().st_size
        if background:
            store.checkpoint_in_background(every_s=0.05)
        else:  # the control: no checkpoint at all, so the rows stay in the WAL
            from sqlalchemy import event

            event.listen(
                store.engine, "connect", lambda c, _r: c.execute("PRAGMA wal_autocheckpoint=0")
            )
            store.engine.dispose()
        for part in range(4):
            txs = [make_transaction(transaction_id=f"c-{part}-{i}") for i in range(500)]
            store.write(WriteBatch(transactions=[(tx, content_hash(tx)) for tx in txs]))
        if background:
            with store.engine.connect() as conn:  # the writer's own connection never checkpoints
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        deadline = time.monotonic() + 10
        while background and path.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.05)
        after = path.stat().st_size
        assert len(store.find_transactions(limit=3000)) == 2000
    return before, after


def test_checkpoints_in_the_background_copy_the_wal_into_the_database(
    tmp_path: Path, keyring: KeyRing
) -> None:
    before, after = _main_file_after_writes(tmp_path / "bg.db", keyring, background=True)
    assert after > before  # the checkpointer thread moved the new pages into the file
    before, after = _main_file_after_writes(tmp_path / "none.db", keyring, background=False)
    assert after == before  # without it, they would still be in the WAL only


def _write_some(store: Any, batch: int, n: int = 300) -> None:
    txs = [make_transaction(transaction_id=f"w-{batch}-{i}") for i in range(n)]
    store.write(WriteBatch(transactions=[(tx, content_hash(tx)) for tx in txs]))


def test_the_writer_starts_the_log_over_once_it_is_over_its_limit(
    tmp_path: Path, keyring: KeyRing
) -> None:
    """Background checkpoints alone never find the log wholly copied between two writes under
    load, so the log would only grow: once the thread flags it as over its limit, the writer's
    `restart_log_if_due` copies the rest, and the next write starts the log over."""
    from fraudwatch.storage.backends.sqlite import SQLiteEventStore

    path = tmp_path / "restart.db"
    wal = Path(f"{path}-wal")
    with open_store(f"sqlite:///{path}", keyring) as store:
        assert isinstance(store, SQLiteEventStore)
        store.migrate()
        store.checkpoint_in_background(every_s=3600)  # the thread stays out of the way
        _write_some(store, 0)
        grown = wal.stat().st_size
        assert not store.restart_log_if_due()  # not due: nothing done
        _write_some(store, 1)
        assert wal.stat().st_size > grown  # so the log goes on growing
        store._restart_wal = True  # what the thread does when the log is over its limit
        assert store.restart_log_if_due()
        assert not store._restart_wal
        high = wal.stat().st_size
        _write_some(store, 2)  # written from the log's start again: the file does not grow
        assert wal.stat().st_size == high
        assert len(store.find_transactions(limit=5000)) == 900


def test_a_reader_on_an_old_snapshot_does_not_stall_the_restart(
    tmp_path: Path, keyring: KeyRing
) -> None:
    """The restart never waits for a reader (the busy timeout is 30 s): it stays due, and the
    next call after the reader has gone does it."""
    import sqlite3

    from fraudwatch.storage.backends.sqlite import SQLiteEventStore

    path = tmp_path / "reader.db"
    with open_store(f"sqlite:///{path}", keyring) as store:
        assert isinstance(store, SQLiteEventStore)
        store.migrate()
        store.checkpoint_in_background(every_s=3600)
        _write_some(store, 0)
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM transactions").fetchone()  # holds its snapshot
        _write_some(store, 1)
        store._restart_wal = True
        started = time.monotonic()
        assert store.restart_log_if_due()
        assert time.monotonic() - started < 5
        assert store._restart_wal  # not done: still due
        reader.execute("COMMIT")
        reader.close()
        assert store.restart_log_if_due()
        assert not store._restart_wal


def _wait_for(condition: Any, seconds: float) -> bool:
    """Whether `condition()` became true within `seconds` (called until it does)."""
    deadline = time.monotonic() + seconds
    while not (met := bool(condition())) and time.monotonic() < deadline:
        time.sleep(0.01)
    return met


def test_the_checkpoint_thread_flags_a_log_over_its_limit(tmp_path: Path, keyring: KeyRing) -> None:
    from fraudwatch.storage.backends.sqlite import SQLiteEventStore

    with open_store(f"sqlite:///{tmp_path / 'big.db'}", keyring) as store:
        assert isinstance(store, SQLiteEventStore)
        store.migrate()
        store.checkpoint_in_background(every_s=0.5, wal_limit_bytes=1 << 40)
        _write_some(store, 0)
        assert not _wait_for(lambda: store._restart_wal, 1.2)  # rounds ran: under its limit

    with open_store(f"sqlite:///{tmp_path / 'small.db'}", keyring) as store:
        assert isinstance(store, SQLiteEventStore)
        store.migrate()
        store.checkpoint_in_background(every_s=0.02, wal_limit_bytes=1)
        _write_some(store, 0)
        assert _wait_for(lambda: store._restart_wal, 10)
        # Restarted (retried while the thread's own round holds the checkpoint), the log is not
        # flagged again before a write has reset it: that would cost a second pause for nothing.
        assert _wait_for(lambda: store.restart_log_if_due() and not store._restart_wal, 10)
        assert not _wait_for(lambda: store._restart_wal, 0.3)
        _write_some(store, 1)
        assert _wait_for(lambda: store._restart_wal, 10)


def test_transactions_and_decisions_are_gated_by_their_own_rows(
    tmp_path: Path, keyring: KeyRing
) -> None:
    """No registry row for a transaction or a decision (one random-key insert fewer each); the
    tables' primary keys keep writes idempotent and hold the transactions' content hashes."""
    txs = [full_transaction(i) for i in range(4)]
    decisions = [
        Decision(
            transaction_id=tx.transaction_id,
            event_time=tx.event_time,
            decided_at=tx.event_time,
            outcome=Outcome.APPROVE,
            risk_score=0.125,
        )
        for tx in txs
    ]
    batch = WriteBatch(transactions=[(tx, content_hash(tx)) for tx in txs], decisions=decisions)
    with open_store(f"sqlite:///{tmp_path / 'own.db'}", keyring) as store:
        store.migrate()
        store.write(batch)
        store.write(batch)
        changed = msgspec.structs.replace(txs[0], amount=Decimal("1.00"))
        store.write(WriteBatch(transactions=[(changed, content_hash(changed))]))
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM event_keys")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM transactions")).scalar() == 4
            assert conn.execute(text("SELECT count(*) FROM decisions")).scalar() == 4
        assert store.known_hashes("transaction", [tx.transaction_id for tx in txs]) == {
            tx.transaction_id: content_hash(tx) for tx in txs
        }
        assert store.get_transaction(txs[0].transaction_id) == txs[0]
        # No digest is computed for a decision's key here; its hash comes from the stored row,
        # and a second decision of the same transaction does not replace the first.
        other = msgspec.structs.replace(decisions[0], outcome=Outcome.BLOCK, risk_score=0.99)
        store.write(WriteBatch(decisions=[other]))
        assert store.get_decision(decisions[0].transaction_id) == decisions[0]
        assert store.known_hashes("decision", [d.transaction_id for d in decisions]) == {
            d.transaction_id: decision_digest(d) for d in decisions
        }


def test_transactions_stored_before_revision_0011_stay_known(
    tmp_path: Path, keyring: KeyRing
) -> None:
    """A row written before 0011 has no hash of its own and a registry row: it is still found,
    its hash comes from the registry, and writing it again stores nothing."""
    old, new = full_transaction(1), full_transaction(2)
    with open_store(f"sqlite:///{tmp_path / 'old.db'}", keyring) as store:
        store.migrate()
        store.write(WriteBatch(transactions=[(old, content_hash(old))]))
        with store.engine.begin() as conn:  # as revision 0010 left it
            conn.execute(text("UPDATE transactions SET content_hash = NULL"))
            conn.execute(
                text(
                    "INSERT INTO event_keys (kind, id, content_hash, event_time) "
                    "SELECT 'transaction', transaction_id, :digest, event_time FROM transactions"
                ),
                {"digest": content_hash(old)},
            )
        changed = msgspec.structs.replace(old, amount=Decimal("1.00"))
        store.write(WriteBatch(transactions=[(changed, content_hash(changed)), (new, b"n" * 16)]))
        assert store.known_hashes("transaction", [old.transaction_id, new.transaction_id]) == {
            old.transaction_id: content_hash(old),
            new.transaction_id: b"n" * 16,
        }
        assert store.get_transaction(old.transaction_id) == old
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM transactions")).scalar() == 2
