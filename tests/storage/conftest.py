"""Fixtures of the storage tests: a PostgreSQL server, fresh databases, one store per backend.

PostgreSQL comes from `FRAUDWATCH_TEST_POSTGRES_URL` when set, else a throwaway cluster started
from the server binaries for the session. If it cannot start the PostgreSQL tests skip, or fail
when `CI=true`. Each test gets a fresh database cloned from a migrated template, so tests never
see each other's rows or partitions and no per-test migration runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, make_url, text

from fraudwatch.devtools.postgres import PostgresUnavailable, throwaway_postgres
from fraudwatch.events.deadletter import DeadLetter
from fraudwatch.events.model import (
    Card,
    Channel,
    Device,
    Label,
    LabelSource,
    Login,
    Merchant,
    Transaction,
)
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import EventStore, open_store
from fraudwatch.storage.urls import sqlalchemy_url
from tests.conftest import TEST_PII_KEYS, make_transaction

BASE_TIME = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    configured = os.environ.get("FRAUDWATCH_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgres())
        except (PostgresUnavailable, OSError) as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"PostgreSQL is required in CI but could not start: {exc}")
            pytest.skip(f"PostgreSQL unavailable: {exc}")
        yield url


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def admin_sql(url: str, statement: str) -> None:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(statement.encode())


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> Iterator[str]:
    """A database migrated once; every test's database is a copy of it."""
    name = f"fw_template_{uuid.uuid4().hex[:10]}"
    admin_sql(postgres_url, f"CREATE DATABASE {name}")
    store = open_store(with_database(postgres_url, name), KeyRing(TEST_PII_KEYS, "k1"))
    store.migrate()
    store.close()
    yield name
    admin_sql(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_database(postgres_url: str, postgres_template: str) -> Iterator[str]:
    """URL of a fresh, migrated database, dropped after the test."""
    name = f"fw_test_{uuid.uuid4().hex[:10]}"
    admin_sql(postgres_url, f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
    yield with_database(postgres_url, name)
    admin_sql(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- stores ---------------------------------------------------------------------------------------


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fraudwatch.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def store(store_url: str, keyring: KeyRing) -> Iterator[EventStore]:
    with open_store(store_url, keyring, months_ahead=2) as opened:
        opened.migrate()
        yield opened


def raw_rows(url: str, sql: str, **params: Any) -> list[Any]:
    """Rows straight from the database, bypassing the store (to look at ciphertexts)."""
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


# -- factories ------------------------------------------------------------------------------------


def full_transaction(index: int = 0, **overrides: Any) -> Transaction:
    """A transaction with every field set, personal ones included."""
    fields: dict[str, Any] = {
        "transaction_id": f"tx-{index:05d}",
        "event_time": BASE_TIME + timedelta(minutes=index),
        "amount": Decimal("1234.56") + index,
        "currency": "EUR",
        "source": "bank-a",
        "card": Card(token=f"tok_{index % 3:032d}", bin="411111", last4="1111"),
        "customer_id": f"cust-{index % 4}",
        "account_id": f"acc-{index % 4}",
        "customer_name": "Erika Mustermann",
        "customer_email": "erika@example.org",
        "customer_phone": "+49 30 1234567",
        "merchant": Merchant(
            id=f"m-{index % 5}",
            name="Bäckerei Schmidt",
            mcc="5462",
            country="DE",
            city="Berlin",
            latitude=52.52,
            longitude=13.405,
        ),
        "terminal_id": "T-77",
        "channel": Channel.ECOMMERCE,
        "entry_mode": "chip",
        "device": Device(
            id="dev-9",
            type="mobile",
            os="Android 15",
            user_agent="Mozilla/5.0 (Linux)",
            fingerprint="fp-a1b2c3",
        ),
        "ip_address": "203.0.113.7",
        "billing_country": "DE",
        "shipping_country": "AT",
        "latitude": 48.2082,
        "longitude": 16.3738,
        "attributes": {"risk_hint": "low", "items": 3, "ratio": 0.25, "gift": False, "note": None},
        "personal": {"date_of_birth": "1964-08-12", "national_id": "T22000129"},
    }
    fields.update(overrides)
    return make_transaction(**fields)


def make_label(transaction: Transaction, **overrides: Any) -> Label:
    fields: dict[str, Any] = {
        "transaction_id": transaction.transaction_id,
        "is_fraud": True,
        "event_time": transaction.event_time,
        "known_at": transaction.event_time + timedelta(days=30),
        "source": LabelSource.CHARGEBACK,
        "fraud_type": "card_testing",
    }
    fields.update(overrides)
    return Label(**fields)


def make_login(index: int = 0, **overrides: Any) -> Login:
    fields: dict[str, Any] = {
        "login_id": f"login-{index}",
        "customer_id": "cust-1",
        "event_time": BASE_TIME + timedelta(hours=index),
        "success": index % 2 == 0,
        "source": "netbank",
        "ip_address": f"198.51.100.{index}",
        "device": Device(id="dev-1", type="desktop", os="Linux", fingerprint="fp-login"),
        "country": "DE",
        "latitude": 52.5,
        "longitude": 13.4,
    }
    fields.update(overrides)
    return Login(**fields)


def make_dead_letter(position: int = 1, **overrides: Any) -> DeadLetter:
    fields: dict[str, Any] = {
        "source": "bank-a",
        "format": "bank-csv",
        "position": position,
        "raw": f"tx-{position};12,5;ZZZ",
        "reason": "unknown_currency",
        "message": "currency 'ZZZ' is not an ISO 4217 code",
        "field": "currency",
        "created_at": BASE_TIME + timedelta(seconds=position),
    }
    fields.update(overrides)
    return DeadLetter(**fields)
