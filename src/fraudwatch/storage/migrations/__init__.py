"""Alembic migrations of the system-of-record schema; run them with `fraudwatch.storage.schema`."""
