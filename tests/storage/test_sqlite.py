"""What only the SQLite store does: its connection settings and in-memory databases."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from fraudwatch.events.model import content_hash
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import WriteBatch, open_store
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
