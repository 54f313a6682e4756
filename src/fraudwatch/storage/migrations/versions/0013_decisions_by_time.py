"""SQLite: the decisions table's key is (event_time, transaction_id), in time order.

Keyed (transaction_id, event_time), each decision went into its key's B-tree at a random place:
one page rewritten (and written again by the checkpoint) per decision once the table outgrew a
commit. Keyed by time first, decisions arrive near the end of the key, as the traffic's times
do, and a commit rewrites a few pages. `ix_decisions_event_time` is that key's prefix: dropped.
A lookup by transaction id alone goes through the transaction's row, whose key gives the event
time (`tables.decisions_of`); a decision stored without its transaction has an `event_keys` row
for that instead (written here for those stored before). The rows are copied in key order
(3.1 s for 300,000 decisions, docs/benchmarks.md).
PostgreSQL keeps its key: it finds a decision by id through `event_keys` and its partitions.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = (
    "transaction_id, event_time, decided_at, outcome, risk_score, model_score, anomaly_score, "
    "model_version, ruleset_version, rules_hit, reasons, latency_ms"
)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rekey(("event_time", "transaction_id"), time_index=False)
        # A decision stored without its transaction row is found by a registry row instead.
        op.execute(
            "INSERT OR IGNORE INTO event_keys (kind, id, content_hash, event_time) "
            "SELECT 'decision', d.transaction_id, X'', d.event_time FROM decisions AS d "
            "WHERE NOT EXISTS (SELECT 1 FROM transactions AS x "
            "WHERE x.transaction_id = d.transaction_id AND x.event_time = d.event_time)"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rekey(("transaction_id", "event_time"), time_index=True)


def _rekey(key: tuple[str, str], *, time_index: bool) -> None:
    for name in ("ix_decisions_event_time", "ix_decisions_outcome_time", "ix_decisions_decided_at"):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.rename_table("decisions", "decisions_before_0013")
    op.create_table(
        "decisions",
        sa.Column("transaction_id", sa.Text, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("risk_score", sa.Float, nullable=False),
        sa.Column("model_score", sa.Float),
        sa.Column("anomaly_score", sa.Float),
        sa.Column("model_version", sa.Text),
        sa.Column("ruleset_version", sa.Text),
        sa.Column("rules_hit", sa.JSON()),
        sa.Column("reasons", sa.JSON()),
        sa.Column("latency_ms", sa.JSON()),
        sa.PrimaryKeyConstraint(*key, name="pk_decisions"),
    )
    op.execute(
        f"INSERT INTO decisions ({COLUMNS}) SELECT {COLUMNS} FROM decisions_before_0013 "
        f"ORDER BY {', '.join(key)}"
    )
    op.drop_table("decisions_before_0013")
    if time_index:
        op.create_index("ix_decisions_event_time", "decisions", ["event_time"])
    op.create_index("ix_decisions_outcome_time", "decisions", ["outcome", "event_time"])
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at", "transaction_id"])
