"""The event store interface and the factory that picks its backend from the database URL.

`EventStore` is the system of record for canonical events, dead letters and source checkpoints.
Backends register under a URL scheme (Feast's pattern): `sqlite` (embedded) and `postgresql`
(distributed). The backend module is imported only when a store of that kind is opened, so using
SQLite never imports psycopg; no engine exists before `open_store` is called.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from importlib import import_module
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy import Engine

from fraudwatch.decisions.model import Decision
from fraudwatch.errors import ConfigError
from fraudwatch.events.deadletter import DeadLetter
from fraudwatch.events.model import Label, Login, Transaction
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage.model import StoreSummary, WriteBatch
from fraudwatch.storage.urls import redact, scheme_of


class EventStore(Protocol):
    """Where canonical events are kept: batched idempotent writes, investigator reads."""

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (the control plane keeps its tables in the same database)."""

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (idempotent); create partitions ahead."""

    def known_hashes(self, kind: str, ids: Sequence[str]) -> dict[str, bytes]:
        """Content hash of each of `ids` already stored as `kind` ('transaction', 'label' by
        `Label.label_id`, 'login'); ids not stored are absent from the result."""

    def write(self, batch: WriteBatch) -> None:
        """Store the whole batch in one transaction; already stored ids are skipped."""

    def maintain(self, *, finish: bool = False) -> None:
        """Upkeep a writer runs between writes, after acknowledging them (may do nothing);
        with `finish`, all of it now (the end of a bulk load). Never raises: the upkeep only
        speeds lookups up, and a failure is logged and tried again at the next call."""

    def load_checkpoints(self, prefix: str = "") -> dict[str, str]:
        """Checkpoints whose key starts with `prefix`."""

    def get_transaction(self, transaction_id: str) -> Transaction | None:
        """The transaction as written, personal fields decrypted; None if unknown."""

    def get_decision(self, transaction_id: str) -> Decision | None:
        """The stored (first) decision of a transaction; None if there is none."""

    def find_transactions(
        self,
        *,
        card_token: str | None = None,
        customer_id: str | None = None,
        merchant_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[Transaction]:
        """Matching transactions, newest first (`start` inclusive, `end` exclusive)."""

    def find_logins(
        self,
        *,
        customer_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[Login]:
        """A customer's logins, newest first."""

    def iter_transactions(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[Transaction]:
        """Every transaction in [start, end), oldest first, decrypted, streamed."""

    def iter_labels(self, *, end: datetime | None = None) -> Iterator[Label]:
        """Every label known before `end`, in the order they became known."""

    def labels_for(self, transaction_ids: Sequence[str]) -> list[Label]:
        """Every label of these transactions."""

    def dead_letters(
        self,
        *,
        reason: str | None = None,
        source: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[DeadLetter]:
        """One page of refused records, oldest first."""

    def iter_dead_letters(
        self, *, reason: str | None = None, source: str | None = None
    ) -> Iterator[DeadLetter]:
        """Every matching refused record, streamed, oldest first."""

    def summary(self) -> StoreSummary:
        """Counts and sums of what is stored."""

    def close(self) -> None:
        """Release the connections."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class StoreFactory(Protocol):
    def __call__(self, url: str, keyring: KeyRing, *, months_ahead: int = 3) -> EventStore: ...


BACKENDS: dict[str, str] = {
    "sqlite": "fraudwatch.storage.backends.sqlite:SQLiteEventStore",
    "postgresql": "fraudwatch.storage.backends.postgres:PostgresEventStore",
    "postgres": "fraudwatch.storage.backends.postgres:PostgresEventStore",
}
"""URL scheme -> `module:class` of its backend."""


def register_backend(scheme: str, target: str) -> None:
    """Make `open_store` open URLs of `scheme` with the class at `target` (`module:Class`)."""
    if ":" not in target:
        raise ValueError("target must be 'module:Class'")
    BACKENDS[scheme.lower()] = target


def backend_for(url: str) -> StoreFactory:
    scheme = scheme_of(url)
    target = BACKENDS.get(scheme)
    if target is None:
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(
            f"no event store for {redact(url)!r}: the URL scheme must be one of {known}"
        )
    module_name, _sep, class_name = target.partition(":")
    factory: StoreFactory = getattr(import_module(module_name), class_name)
    return factory


def open_store(url: str, keyring: KeyRing, *, months_ahead: int = 3) -> EventStore:
    """Open the event store at `url`; call `migrate()` before the first write."""
    return backend_for(url)(url, keyring, months_ahead=months_ahead)
