"""The control plane: rule set versions, the active version, named lists, API keys, the audit
log, settings such as the policy thresholds, and change revisions (which running scorers poll to
pick up changes without a restart).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return postgresql.JSONB() if op.get_context().dialect.name == "postgresql" else sa.JSON()


def _ts(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.create_table(
        "rule_sets",
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("body", _json(), nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        _ts("published_at"),
        sa.Column("published_by", sa.Text),
        sa.PrimaryKeyConstraint("version", name="pk_rule_sets"),
    )
    op.create_table(
        "active_rule_set",
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _ts("activated_at", nullable=False),
        sa.Column("activated_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("slot", name="pk_active_rule_set"),
    )
    op.create_table(
        "list_entries",
        sa.Column("list_name", sa.Text, nullable=False),
        sa.Column("value_key", sa.Text, nullable=False),
        sa.Column("value_enc", sa.LargeBinary, nullable=False),
        sa.Column("pii_key_id", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        _ts("added_at", nullable=False),
        sa.Column("added_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("list_name", "value_key", name="pk_list_entries"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("secret_hash", sa.Text, nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        _ts("revoked_at"),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        _ts("at", nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("details", _json()),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.UniqueConstraint("seq", name="uq_audit_log_seq"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "audit_head",
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("slot", name="pk_audit_head"),
    )
    op.create_table(
        "control_settings",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", _json(), nullable=False),
        _ts("updated_at", nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_control_settings"),
    )
    op.create_table(
        "control_revisions",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_control_revisions"),
    )


def downgrade() -> None:
    for table in (
        "control_revisions",
        "control_settings",
        "audit_head",
        "audit_log",
        "api_keys",
        "list_entries",
        "active_rule_set",
        "rule_sets",
    ):
        op.drop_table(table)
