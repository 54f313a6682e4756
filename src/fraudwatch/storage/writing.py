"""One write transaction on an engine, for the repositories beside the event store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from fraudwatch.storage.backends.sqlite import BEGIN_OPTION


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that commits on success; on SQLite it takes the write lock at BEGIN, so it
    waits for another writer (busy timeout) instead of failing when it later writes."""
    with engine.connect() as conn:
        conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            yield conn
