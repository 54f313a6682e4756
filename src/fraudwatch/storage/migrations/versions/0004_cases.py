"""Cases: investigations grouped by card (or customer), their decisions and notes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _ts(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        _id(),
        sa.Column("case_key", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("disposition", sa.Text),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("queue", sa.Text, nullable=False),
        sa.Column("assignee", sa.Text),
        sa.Column("max_risk", sa.Float, nullable=False),
        sa.Column("total_amount", sa.Numeric(20, 6), nullable=False),
        sa.Column("currency", sa.Text),
        sa.Column("decisions", sa.Integer, nullable=False),
        sa.Column("card_token", sa.Text),
        sa.Column("customer_id", sa.Text),
        _ts("opened_at", nullable=False),
        _ts("updated_at", nullable=False),
        _ts("due_at", nullable=False),
        _ts("resolved_at"),
        sa.Column("resolved_by", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
    )
    op.create_index("ix_cases_key_status", "cases", ["case_key", "status"])
    op.create_index("ix_cases_queue", "cases", ["status", "queue", "priority", "opened_at", "id"])
    op.create_index("ix_cases_assignee", "cases", ["assignee", "status"])
    op.create_index("ix_cases_card", "cases", ["card_token"])
    op.create_index("ix_cases_customer", "cases", ["customer_id"])
    op.create_table(
        "case_decisions",
        sa.Column("case_id", sa.BigInteger, nullable=False),
        sa.Column("transaction_id", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("risk_score", sa.Float, nullable=False),
        _ts("event_time", nullable=False),
        _ts("added_at", nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_case_decisions"),
    )
    op.create_index("ix_case_decisions_case", "case_decisions", ["case_id"])
    op.create_table(
        "case_notes",
        _id(),
        sa.Column("case_id", sa.BigInteger, nullable=False),
        _ts("at", nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_notes"),
    )
    op.create_index("ix_case_notes_case", "case_notes", ["case_id"])


def downgrade() -> None:
    for table in ("case_notes", "case_decisions", "cases"):
        op.drop_table(table)
