"""SQLite keys decisions by (event_time, transaction_id) (revision 0013): written in time order,
found by transaction id through the transaction's key, or through a registry row for a decision
stored without its transaction; no lookup by id reads the whole table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import select, text

from fraudwatch.analytics import decisions as decision_queries
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.events.model import Transaction, content_hash
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import WriteBatch, open_store
from fraudwatch.storage import tables as t
from fraudwatch.storage.backends import sqlite as sqlite_backend
from fraudwatch.storage.schema import _config
from tests.conftest import make_transaction

START = datetime(2026, 3, 1, tzinfo=UTC)


def _pair(i: int) -> tuple[Transaction, Decision]:
    tx = make_transaction(transaction_id=f"tx-{i:03d}", event_time=START + timedelta(minutes=i))
    decision = Decision(
        transaction_id=tx.transaction_id,
        event_time=tx.event_time,
        decided_at=tx.event_time + timedelta(milliseconds=4),
        outcome=Outcome.REVIEW if i % 3 == 0 else Outcome.APPROVE,
        risk_score=0.25,
    )
    return tx, decision


def _write(store: Any, pairs: list[tuple[Transaction, Decision]]) -> None:
    store.write(
        WriteBatch(
            transactions=[(tx, content_hash(tx)) for tx, _ in pairs],
            decisions=[d for _, d in pairs],
        )
    )


def _registered(store: Any) -> set[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT id FROM event_keys WHERE kind = 'decision'"))
        return {row_id for (row_id,) in rows}


def _plan(store: Any, query: Any) -> str:
    with store.engine.connect() as conn:
        sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(str(row[-1]) for row in rows)


def test_decisions_are_keyed_by_time_and_found_by_id(tmp_path: Path, keyring: KeyRing) -> None:
    with open_store(f"sqlite:///{tmp_path / 'fw.db'}", keyring) as store:
        store.migrate()
        pairs = [_pair(i) for i in range(12)]
        _write(store, pairs[:6])
        _write(store, pairs[3:])  # three again: idempotent
        store.write(WriteBatch(decisions=[_pair(40)[1]]))  # without its transaction
        with store.engine.connect() as conn:
            ddl = conn.execute(text("SELECT sql FROM sqlite_schema WHERE name = 'decisions'"))
            assert "PRIMARY KEY (event_time, transaction_id)" in ddl.scalar_one()
            names = {n for (n,) in conn.execute(text("SELECT name FROM sqlite_schema"))}
            assert "ix_decisions_event_time" not in names  # the key's prefix
            assert conn.execute(text("SELECT count(*) FROM decisions")).scalar_one() == 13
        # Written with their transactions: no registry row, the decision alone has one.
        assert _registered(store) == {"tx-040"}
        for tx, decision in [*pairs, _pair(40)]:
            assert store.get_decision(tx.transaction_id) == decision
        assert store.get_decision("tx-999") is None
        ids = ["tx-000", "tx-005", "tx-040", "tx-999"]
        assert set(store.known_hashes("decision", ids)) == {"tx-000", "tx-005", "tx-040"}
        with store.engine.connect() as conn:
            found = decision_queries.one(conn, "tx-040")
            assert found is not None and found[0].transaction_id == "tx-040"


def test_no_lookup_by_id_reads_the_whole_table(tmp_path: Path, keyring: KeyRing) -> None:
    with open_store(f"sqlite:///{tmp_path / 'fw.db'}", keyring) as store:
        store.migrate()
        for start in range(0, 200, 50):
            _write(store, [_pair(i) for i in range(start, start + 50)])
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        ids = ["tx-001", "tx-150"]
        by_id = select(t.decisions.c.transaction_id).where(t.decisions_of(ids, "sqlite"))
        plan = _plan(store, by_id)
        assert "SCAN decisions" not in plan and "SEARCH decisions USING" in plan, plan
        joined = decision_queries._base().where(t.decisions_of(ids, "sqlite"))
        plan = _plan(store, joined)
        assert "SCAN decisions" not in plan, plan
        # The writer's check, in SQL of its own: keys only.
        with store.engine.connect() as conn:
            sql = sqlite_backend._stored_sql("decisions", 2)
            parameters = (*ids, *ids)
            plan = "\n".join(
                str(row[-1])
                for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
            )
            assert "SCAN" not in plan and "SEARCH d USING" in plan, plan
            assert isinstance(store, sqlite_backend.SQLiteEventStore)
            assert store._stored_in_table(conn, "decisions", [*ids, "tx-999"]) == set(ids)


def test_the_migration_rekeys_the_decisions_stored_before(tmp_path: Path, keyring: KeyRing) -> None:
    with open_store(f"sqlite:///{tmp_path / 'old.db'}", keyring) as store:
        store.migrate()
        pairs = [_pair(i) for i in range(20)]
        with store.engine.begin() as conn:  # as revision 0012 left it
            command.downgrade(_config(conn), "0012")
        _write(store, pairs[:10])
        store.write(WriteBatch(decisions=[d for _, d in pairs[10:]]))  # no transactions
        with store.engine.begin() as conn:  # before 0013 a decision had no registry row
            conn.execute(text("DELETE FROM event_keys WHERE kind = 'decision'"))
        with store.engine.connect() as conn:
            ddl = conn.execute(text("SELECT sql FROM sqlite_schema WHERE name = 'decisions'"))
            assert "PRIMARY KEY (transaction_id, event_time)" in ddl.scalar_one()
        store.migrate()
        with store.engine.connect() as conn:
            ddl = conn.execute(text("SELECT sql FROM sqlite_schema WHERE name = 'decisions'"))
            assert "PRIMARY KEY (event_time, transaction_id)" in ddl.scalar_one()
            index_names = conn.execute(text("SELECT name FROM sqlite_schema WHERE type='index'"))
            assert {"ix_decisions_outcome_time", "ix_decisions_decided_at"} <= {
                n for (n,) in index_names
            }
        assert _registered(store) == {d.transaction_id for _, d in pairs[10:]}
        for _, decision in pairs:
            assert store.get_decision(decision.transaction_id) == decision
