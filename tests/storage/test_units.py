"""Storage pieces that need no database: URLs, the backend registry, types, months, tooling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.dialects import sqlite

from fraudwatch.devtools import postgres as devpg
from fraudwatch.errors import ConfigError
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import open_store, register_backend
from fraudwatch.storage.partitions import add_months, month_of, partition_name
from fraudwatch.storage.store import BACKENDS
from fraudwatch.storage.types import Money, quantize_money, sqlite_time
from fraudwatch.storage.urls import redact, scheme_of, sqlalchemy_url


@pytest.mark.parametrize(
    ("url", "scheme", "rewritten"),
    [
        ("sqlite:///x.db", "sqlite", "sqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgres", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
    ],
)
def test_urls(url: str, scheme: str, rewritten: str) -> None:
    assert scheme_of(url) == scheme
    assert sqlalchemy_url(url) == rewritten


def test_other_postgres_drivers_and_unknown_schemes_are_refused(keyring: KeyRing) -> None:
    with pytest.raises(ConfigError, match="psycopg 3"):
        sqlalchemy_url("postgresql+psycopg2://u@h/db")
    with pytest.raises(ConfigError, match="URL scheme must be one of") as error:
        open_store("mysql://root:hunter2@db/x", keyring)
    assert "hunter2" not in str(error.value)
    with pytest.raises(ConfigError, match="not a database URL"):
        open_store("fraudwatch.db", keyring)
    assert redact("postgresql://fraud:s3cret@db:5432/x") == "postgresql://fraud:***@db:5432/x"


class RecordingStore:
    """A stand-in backend: remembers how the factory called it."""

    def __init__(self, url: str, keyring: KeyRing, *, months_ahead: int = 3) -> None:
        self.args = (url, keyring, months_ahead)


def test_registered_backends_open_by_scheme(keyring: KeyRing) -> None:
    register_backend("Fake", "tests.storage.test_units:RecordingStore")
    try:
        store = open_store("fake+driver://somewhere", keyring, months_ahead=7)
        assert isinstance(store, RecordingStore)
        assert store.args == ("fake+driver://somewhere", keyring, 7)
    finally:
        BACKENDS.pop("fake")
    with pytest.raises(ValueError, match="module:Class"):
        register_backend("x", "no.colon")


def test_sqlite_time_matches_sqlalchemy_storage_format() -> None:
    to_text = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert to_text is not None
    berlin = timezone(timedelta(hours=1))
    for moment in (
        datetime(2013, 9, 1, tzinfo=UTC),
        datetime(2026, 1, 15, 12, 30, 5, 7, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 30, tzinfo=berlin),
    ):
        assert sqlite_time(moment) == to_text(moment.astimezone(UTC).replace(tzinfo=None))


def test_money_keeps_six_decimal_places() -> None:
    assert quantize_money(Decimal("42.5")) == Decimal("42.500000")
    assert quantize_money(Decimal("0.00000050")) == Decimal("0.000000")  # half-even
    money = Money()
    assert money.process_result_value(42.5, sqlite.dialect()) == Decimal("42.5")
    assert money.process_bind_param(Decimal("1.5"), sqlite.dialect()) == "1.500000"


def test_months() -> None:
    assert month_of(datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))) == (2025, 12)
    assert add_months((2013, 12), 1) == (2014, 1)
    assert add_months((2014, 1), -1) == (2013, 12)
    assert add_months((2026, 3), 24) == (2028, 3)
    assert partition_name("transactions", (2013, 9)) == "transactions_p2013_09"


def test_missing_postgres_binaries_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devpg.shutil, "which", lambda _name: None)
    monkeypatch.setattr(devpg, "_SEARCH_GLOBS", ())
    with pytest.raises(devpg.PostgresUnavailable, match="binaries"):
        devpg.find_bindir()
