"""The dashboard: the decisions' tail index and the hourly rollups its projector keeps.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _hourly(name: str, *columns: sa.Column[Any], key: tuple[str, ...]) -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    op.create_table(
        name,
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"),
        **({"sqlite_with_rowid": False} if sqlite else {}),
    )


def _counts(*names: str) -> list[sa.Column[Any]]:
    return [sa.Column(name, sa.BigInteger, nullable=False) for name in names]


def upgrade() -> None:
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at", "transaction_id"])
    _hourly(
        "dash_rollup",
        sa.Column("dimension", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        *_counts("decisions"),
        sa.Column("amount", sa.Float, nullable=False),
        *_counts("labelled", "fraud"),
        sa.Column("fraud_amount", sa.Float, nullable=False),
        key=("dimension", "hour", "key", "outcome"),
    )
    _hourly(
        "dash_scores",
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("bin", sa.Integer, nullable=False),
        *_counts("fraud", "genuine", "unlabelled"),
        key=("hour", "model_version", "bin"),
    )
    _hourly(
        "dash_rules",
        sa.Column("rule", sa.Text, nullable=False),
        *_counts("hits", "shadow_hits", "fraud_hits"),
        key=("hour", "rule"),
    )
    _hourly(
        "dash_latency",
        sa.Column("bucket", sa.Integer, nullable=False),
        *_counts("decisions"),
        key=("hour", "bucket"),
    )
    sqlite = op.get_context().dialect.name == "sqlite"
    op.create_table(
        "dash_facts",
        sa.Column("transaction_id", sa.Text, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_fraud", sa.Boolean),
        sa.Column("fraud_type", sa.Text),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_dash_facts"),
        **({"sqlite_with_rowid": False} if sqlite else {}),
    )


def downgrade() -> None:
    for name in ("dash_facts", "dash_latency", "dash_rules", "dash_scores", "dash_rollup"):
        op.drop_table(name)
    op.drop_index("ix_decisions_decided_at", table_name="decisions")
