"""Investigations: the case queue's ordered indexes, WebAuthn passkeys and their challenges.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ORDER = ["priority", "opened_at", "id"]
FILTERED = ("status", "queue", "assignee")  # card and customer: few cases each, 0004 indexes


def _json() -> sa.types.TypeEngine[Any]:
    return postgresql.JSONB() if op.get_context().dialect.name == "postgresql" else sa.JSON()


def _ts(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.create_index("ix_cases_order", "cases", ORDER)
    for column in FILTERED:
        op.create_index(f"ix_cases_{column}_order", "cases", [column, *ORDER])
    op.create_index(
        "ix_cases_unresolved",
        "cases",
        [*ORDER, "due_at"],
        sqlite_where=sa.text("status != 'resolved'"),
        postgresql_where=sa.text("status != 'resolved'"),
    )
    op.create_table(
        "passkeys",
        sa.Column("credential_id", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("sign_count", sa.BigInteger, nullable=False),
        sa.Column("transports", _json()),
        sa.Column("aaguid", sa.Text),
        _ts("created_at", nullable=False),
        _ts("last_used_at"),
        sa.PrimaryKeyConstraint("credential_id", name="pk_passkeys"),
    )
    op.create_index("ix_passkeys_owner", "passkeys", ["owner"])
    op.create_table(
        "webauthn_challenges",
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("challenge", sa.LargeBinary, nullable=False),
        _ts("expires_at", nullable=False),
        sa.PrimaryKeyConstraint("subject", "purpose", name="pk_webauthn_challenges"),
    )


def downgrade() -> None:
    op.drop_table("webauthn_challenges")
    op.drop_index("ix_passkeys_owner", table_name="passkeys")
    op.drop_table("passkeys")
    op.drop_index("ix_cases_unresolved", table_name="cases")
    for column in FILTERED:
        op.drop_index(f"ix_cases_{column}_order", table_name="cases")
    op.drop_index("ix_cases_order", table_name="cases")
