"""The system of record: transactions, labels, logins, dead letters, decisions, keys, checkpoints.

On PostgreSQL, `transactions`, `decisions` and `dead_letters` are RANGE-partitioned by month with a
DEFAULT partition as a safety net; the monthly partitions themselves are created at run time
(`fraudwatch.storage.partitions`), ahead of time and for whatever months a write touches. Because a
partitioned table's unique keys must contain the partition key, global uniqueness of ids is kept
in `event_keys`. The types are written out here (not imported from the live model) so this
revision stays what it was when later revisions change the model.

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PARTITIONED = {
    "transactions": "event_time",
    "decisions": "event_time",
    "dead_letters": "created_at",
}


def _is_postgres() -> bool:
    return bool(op.get_context().dialect.name == "postgresql")


def _ts(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def _ingested_at() -> sa.Column[Any]:
    return _ts("ingested_at", nullable=False, server_default=sa.text("CURRENT_TIMESTAMP"))


def _json() -> sa.types.TypeEngine[Any]:
    return postgresql.JSONB() if _is_postgres() else sa.JSON()


def _partitioning(table: str) -> dict[str, Any]:
    if not _is_postgres():
        return {}
    return {"postgresql_partition_by": f"RANGE ({PARTITIONED[table]})"}


def _text(*names: str) -> list[sa.Column[Any]]:
    return [sa.Column(name, sa.Text) for name in names]


def _floats(*names: str) -> list[sa.Column[Any]]:
    return [sa.Column(name, sa.Float) for name in names]


def _blobs(*names: str) -> list[sa.Column[Any]]:
    return [sa.Column(name, sa.LargeBinary) for name in names]


def _create_transactions() -> None:
    op.create_table(
        "transactions",
        sa.Column("transaction_id", sa.Text, nullable=False),
        _ts("event_time", nullable=False),
        sa.Column("amount", sa.Numeric(20, 6), nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        *_text("card_token", "card_bin", "card_last4", "customer_id", "account_id"),
        *_text("merchant_id", "merchant_name", "merchant_mcc", "merchant_country", "merchant_city"),
        *_floats("merchant_latitude", "merchant_longitude"),
        *_text("terminal_id", "channel", "entry_mode"),
        *_text("device_id", "device_type", "device_os", "device_user_agent"),
        *_text("billing_country", "shipping_country"),
        *_floats("latitude", "longitude"),
        sa.Column("attributes", _json()),
        *_blobs("customer_name_enc", "customer_email_enc", "customer_phone_enc", "ip_address_enc"),
        *_blobs("device_fingerprint_enc", "personal_enc"),
        sa.Column("pii_key_id", sa.Text),
        _ingested_at(),
        sa.PrimaryKeyConstraint("transaction_id", "event_time", name="pk_transactions"),
        **_partitioning("transactions"),
    )
    # Narrow on purpose: these indexes are most of the cost of a bulk write.
    op.create_index("ix_transactions_event_time", "transactions", ["event_time"])
    for entity in ("card_token", "customer_id", "merchant_id"):
        condition = sa.text(f"{entity} IS NOT NULL")
        op.create_index(
            f"ix_transactions_{entity}_time",
            "transactions",
            [entity, "event_time"],
            sqlite_where=condition,
            postgresql_where=condition,
        )


def _create_events() -> None:
    op.create_table(
        "labels",
        sa.Column("transaction_id", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("is_fraud", sa.Boolean, nullable=False),
        sa.Column("fraud_type", sa.Text),
        _ts("event_time", nullable=False),
        _ts("known_at", nullable=False),
        _ingested_at(),
        sa.PrimaryKeyConstraint("transaction_id", "source", name="pk_labels"),
    )
    op.create_index("ix_labels_known_at", "labels", ["known_at"])
    op.create_table(
        "logins",
        sa.Column("login_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        _ts("event_time", nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("ip_address_enc", sa.LargeBinary),
        *_text("device_id", "device_type", "device_os", "device_user_agent"),
        sa.Column("device_fingerprint_enc", sa.LargeBinary),
        sa.Column("country", sa.Text),
        *_floats("latitude", "longitude"),
        sa.Column("pii_key_id", sa.Text),
        _ingested_at(),
        sa.PrimaryKeyConstraint("login_id", name="pk_logins"),
    )
    op.create_index("ix_logins_customer_time", "logins", ["customer_id", "event_time"])


def _create_dead_letters() -> None:
    if _is_postgres():
        # Identity columns on partitioned tables need PostgreSQL 17; a sequence works everywhere.
        op.execute("CREATE SEQUENCE dead_letters_id_seq AS bigint")
        id_column = sa.Column(
            "id",
            sa.BigInteger,
            nullable=False,
            server_default=sa.text("nextval('dead_letters_id_seq')"),
        )
        key = sa.PrimaryKeyConstraint("id", "created_at", name="pk_dead_letters")
    else:
        id_column = sa.Column("id", sa.Integer, nullable=False)  # INTEGER PRIMARY KEY: the rowid
        key = sa.PrimaryKeyConstraint("id", name="pk_dead_letters")
    op.create_table(
        "dead_letters",
        id_column,
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("raw_enc", sa.LargeBinary, nullable=False),
        sa.Column("pii_key_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("field", sa.Text),
        sa.Column("message", sa.Text, nullable=False),
        _ts("created_at", nullable=False),
        key,
        sqlite_autoincrement=True,
        **_partitioning("dead_letters"),
    )
    if _is_postgres():
        op.execute("ALTER SEQUENCE dead_letters_id_seq OWNED BY dead_letters.id")
    op.create_index("ix_dead_letters_time", "dead_letters", ["created_at", "id"])
    op.create_index("ix_dead_letters_reason", "dead_letters", ["reason", "created_at", "id"])
    op.create_index("ix_dead_letters_source", "dead_letters", ["source", "created_at", "id"])


def _create_decisions() -> None:
    op.create_table(
        "decisions",
        sa.Column("transaction_id", sa.Text, nullable=False),
        _ts("event_time", nullable=False),
        _ts("decided_at", nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("risk_score", sa.Float, nullable=False),
        *_floats("model_score", "anomaly_score"),
        *_text("model_version", "ruleset_version"),
        sa.Column("rules_hit", _json()),
        sa.Column("reasons", _json()),
        sa.Column("latency_ms", _json()),
        sa.PrimaryKeyConstraint("transaction_id", "event_time", name="pk_decisions"),
        **_partitioning("decisions"),
    )
    op.create_index("ix_decisions_event_time", "decisions", ["event_time"])
    op.create_index("ix_decisions_outcome_time", "decisions", ["outcome", "event_time"])


def _create_registries() -> None:
    op.create_table(
        "event_keys",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        _ts("event_time", nullable=False),
        sa.PrimaryKeyConstraint("kind", "id", name="pk_event_keys"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "checkpoints",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_checkpoints"),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    _create_transactions()
    _create_events()
    _create_dead_letters()
    _create_decisions()
    _create_registries()
    if _is_postgres():
        for table in PARTITIONED:
            op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")


def downgrade() -> None:
    for table in ("checkpoints", "event_keys", "decisions", "dead_letters", "logins", "labels"):
        op.drop_table(table)
    op.drop_table("transactions")
