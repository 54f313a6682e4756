"""What only the PostgreSQL store does: monthly partitions, COPY, migrating an empty database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from fraudwatch.events.model import content_hash
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import EventStore, WriteBatch, open_store
from fraudwatch.storage.partitions import add_months, month_of, partition_name
from fraudwatch.storage.schema import head_revision
from tests.storage.conftest import (
    admin_sql,
    full_transaction,
    make_dead_letter,
    raw_rows,
    with_database,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres_database: str) -> str:
    return postgres_database


@pytest.fixture
def pg_store(pg_url: str, keyring: KeyRing) -> Iterator[EventStore]:
    with open_store(pg_url, keyring, months_ahead=2) as store:
        store.migrate()
        yield store


def partitions(url: str, table: str) -> set[str]:
    rows = raw_rows(
        url,
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = CAST(:t AS regclass)",
        t=table,
    )
    return {name for (name,) in rows}


def test_empty_database_migrates_twice(postgres_url: str, keyring: KeyRing) -> None:
    name = f"fw_empty_{uuid.uuid4().hex[:10]}"
    admin_sql(postgres_url, f"CREATE DATABASE {name}")
    url = with_database(postgres_url, name)
    try:
        with open_store(url, keyring, months_ahead=1) as store:
            store.migrate()
            store.migrate()
        assert raw_rows(url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
        this_month = month_of(datetime.now(UTC))
        expected = {partition_name("transactions", add_months(this_month, i)) for i in (0, 1)}
        assert expected | {"transactions_default"} == partitions(url, "transactions")
    finally:
        admin_sql(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_partitions_exist_ahead_of_the_current_month(pg_store: EventStore, pg_url: str) -> None:
    this_month = month_of(datetime.now(UTC))
    for table in ("transactions", "decisions", "dead_letters"):
        names = partitions(pg_url, table)
        assert f"{table}_default" in names
        for ahead in range(3):
            assert partition_name(table, add_months(this_month, ahead)) in names


def test_historical_months_get_partitions_on_demand(pg_store: EventStore, pg_url: str) -> None:
    old = full_transaction(0, event_time=datetime(2013, 9, 3, 10, tzinfo=UTC))
    older = full_transaction(1, event_time=datetime(2018, 12, 31, 23, 59, 59, tzinfo=UTC))
    letter = make_dead_letter(created_at=datetime(2015, 1, 1, tzinfo=UTC))
    pg_store.write(
        WriteBatch(
            transactions=[(tx, content_hash(tx)) for tx in (old, older)], dead_letters=[letter]
        )
    )
    assert raw_rows(
        pg_url, "SELECT tableoid::regclass::text, transaction_id FROM transactions ORDER BY 2"
    ) == [
        ("transactions_p2013_09", old.transaction_id),
        ("transactions_p2018_12", older.transaction_id),
    ]
    assert raw_rows(pg_url, "SELECT tableoid::regclass::text FROM dead_letters") == [
        ("dead_letters_p2015_01",)
    ]
    for table in ("transactions", "dead_letters"):
        assert raw_rows(pg_url, f"SELECT count(*) FROM {table}_default") == [(0,)]
    assert pg_store.get_transaction(old.transaction_id) == old


def test_rows_stranded_in_the_default_partition_move_to_their_month(
    pg_store: EventStore, pg_url: str
) -> None:
    conninfo = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO transactions (transaction_id, event_time, amount, currency, source) "
            "VALUES ('stray', '2019-05-05 00:00:00+00', 1, 'EUR', 'manual')"
        )
    tx = full_transaction(0, event_time=datetime(2019, 5, 20, tzinfo=UTC))
    pg_store.write(WriteBatch(transactions=[(tx, content_hash(tx))]))
    assert raw_rows(
        pg_url, "SELECT tableoid::regclass::text, transaction_id FROM transactions ORDER BY 2"
    ) == [("transactions_p2019_05", "stray"), ("transactions_p2019_05", tx.transaction_id)]
    assert raw_rows(pg_url, "SELECT count(*) FROM transactions_default") == [(0,)]
    indexes = raw_rows(
        pg_url, "SELECT count(*) FROM pg_indexes WHERE tablename = 'transactions_p2019_05'"
    )
    assert indexes == [(5,)]  # primary key + the four investigator indexes


def test_writes_go_through_copy(pg_store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    statements: list[str] = []
    original = psycopg.Cursor.copy

    def spy(self: psycopg.Cursor[Any], statement: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(statement.decode() if isinstance(statement, bytes) else str(statement))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", spy)
    txs = [full_transaction(i) for i in range(3)]
    pg_store.write(
        WriteBatch(
            transactions=[(tx, content_hash(tx)) for tx in txs], dead_letters=[make_dead_letter()]
        )
    )
    copied = {statement.split()[1] for statement in statements}
    assert copied == {"_fw_stage_keys", "transactions", "dead_letters"}
    assert pg_store.summary().transactions == 3


def test_urls_are_served_by_psycopg_3(pg_url: str, keyring: KeyRing) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with open_store(plain, keyring) as store:
        assert store.engine.dialect.driver == "psycopg"  # type: ignore[attr-defined]
