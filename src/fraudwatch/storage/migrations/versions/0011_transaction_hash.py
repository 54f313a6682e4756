"""A transaction's content hash in its own row: on SQLite the transactions table's primary key is
then the transaction's idempotency gate, as the decisions table's is for decisions, and no
`event_keys` row is written for it (one random-key B-tree insert fewer per transaction). Rows
stored before keep NULL here and their hash in `event_keys`; both are read. PostgreSQL keeps its
registry rows (they prune a lookup by id to one partition) and stores the hash in both places.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("transactions", sa.Column("content_hash", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("transactions", "content_hash")
