"""What only the SQLite store does: its connection settings and in-memory databases."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

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
