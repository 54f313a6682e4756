"""Labels by the time they were stored: the dashboard projector reads the labels newer than its
cursor at every step, by this index instead of a scan of every label.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_labels_ingested_at", "labels", ["ingested_at"])


def downgrade() -> None:
    op.drop_index("ix_labels_ingested_at", table_name="labels")
