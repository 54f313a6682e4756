"""What only the SQLite store does: its connection settings, in-memory databases, and the
tables' own primary keys as the idempotency gate of transactions and decisions."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

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
