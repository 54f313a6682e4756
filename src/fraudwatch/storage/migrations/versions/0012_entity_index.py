"""SQLite: the card, customer and merchant lookups go through `entity_index`, kept in bulk.

The three indexes on (card_token | customer_id | merchant_id, event_time) were inserted into at
random keys, one page each per transaction once they outgrew a commit: about half of the SQLite
writer's CPU. `entity_index` holds the same entries, (kind, key, event_time, rowid), written in
key order for many transactions at once (`storage/entities.py`); `entity_mark.upto` is the last
transaction covered, and lookups read the newer ones by rowid. The existing rows are indexed
here, in key order. PostgreSQL keeps its indexes (its tables here stay empty).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ENTITIES = ("card_token", "customer_id", "merchant_id")  # kinds 0, 1, 2


def upgrade() -> None:
    op.create_table(
        "entity_index",
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tx_rowid", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", "event_time", "tx_rowid", name="pk_entity_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "entity_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upto", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_entity_mark"),
    )
    if op.get_context().dialect.name != "sqlite":
        return
    entries = " UNION ALL ".join(
        f"SELECT {kind}, {column}, event_time, rowid FROM transactions WHERE {column} IS NOT NULL"
        for kind, column in enumerate(ENTITIES)
    )
    op.execute(f"INSERT INTO entity_index {entries} ORDER BY 1, 2, 3, 4")
    op.execute(
        "INSERT INTO entity_mark (id, upto) SELECT 1, coalesce(max(rowid), 0) FROM transactions"
    )
    for column in ENTITIES:
        op.drop_index(f"ix_transactions_{column}_time", table_name="transactions")


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for column in ENTITIES:
            op.create_index(
                f"ix_transactions_{column}_time",
                "transactions",
                [column, "event_time"],
                sqlite_where=sa.text(f"{column} IS NOT NULL"),
            )
    op.drop_table("entity_mark")
    op.drop_table("entity_index")
