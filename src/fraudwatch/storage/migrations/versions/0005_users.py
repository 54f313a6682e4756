"""Users (passwords hashed with argon2, TOTP secrets encrypted), their sessions and recovery codes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _ts(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("totp_enc", sa.LargeBinary),
        sa.Column("pii_key_id", sa.Text),
        sa.Column("mfa_enabled", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        _ts("locked_until"),
        sa.Column("disabled", sa.Boolean, nullable=False),
        _ts("created_at", nullable=False),
        _ts("last_login_at"),
        sa.PrimaryKeyConstraint("username", name="pk_users"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("code_hash", sa.Text, nullable=False),
        _ts("used_at"),
        sa.PrimaryKeyConstraint("username", "code_hash", name="pk_recovery_codes"),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("mfa_passed", sa.Boolean, nullable=False),
        _ts("created_at", nullable=False),
        _ts("expires_at", nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_sessions"),
    )
    op.create_index("ix_sessions_user", "sessions", ["username"])


def downgrade() -> None:
    for table in ("sessions", "recovery_codes", "users"):
        op.drop_table(table)
