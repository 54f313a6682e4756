"""The system of record: canonical events, dead letters and checkpoints in SQLite or PostgreSQL.

Usage::

    store = open_store(settings.resolved_database_url, keyring,
                       months_ahead=settings.partition_months_ahead)
    store.migrate()
    store.write(WriteBatch(transactions=[(tx, content_hash(tx))]))
"""

from fraudwatch.storage.model import SourceTotals, StorageError, StoreSummary, WriteBatch
from fraudwatch.storage.store import EventStore, open_store, register_backend

__all__ = [
    "EventStore",
    "SourceTotals",
    "StorageError",
    "StoreSummary",
    "WriteBatch",
    "open_store",
    "register_backend",
]
