"""The system-of-record schema as SQLAlchemy Core tables, the same for SQLite and PostgreSQL.

These definitions are what the queries are written against. The DDL that creates them lives in
the Alembic migrations (`storage/migrations/versions/`), which add what differs by dialect: monthly
RANGE partitions on PostgreSQL (a partitioned table's primary key must contain the partition key,
hence `(transaction_id, event_time)`), `WITHOUT ROWID` tables on SQLite. A contract test checks that
the migrated database has exactly these columns.

Personal data is stored only as AES-256-GCM ciphertexts (`*_enc` columns, see `codec.py`) with one
`pii_key_id` per row; card numbers are never stored, only the token, BIN and last four digits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    or_,
    select,
    text,
    tuple_,
)

from fraudwatch.storage.types import Money, UtcDateTime, json_type

metadata = MetaData()


def _now() -> Column[object]:
    return Column(
        "ingested_at", UtcDateTime(), nullable=False, server_default=text("CURRENT_TIMESTAMP")
    )


transactions = Table(
    "transactions",
    metadata,
    Column("transaction_id", Text, nullable=False),
    Column("event_time", UtcDateTime(), nullable=False),
    Column("amount", Money(), nullable=False),
    Column("currency", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("card_token", Text),
    Column("card_bin", Text),
    Column("card_last4", Text),
    Column("customer_id", Text),
    Column("account_id", Text),
    Column("merchant_id", Text),
    Column("merchant_name", Text),
    Column("merchant_mcc", Text),
    Column("merchant_country", Text),
    Column("merchant_city", Text),
    Column("merchant_latitude", Float),
    Column("merchant_longitude", Float),
    Column("terminal_id", Text),
    Column("channel", Text),
    Column("entry_mode", Text),
    Column("device_id", Text),
    Column("device_type", Text),
    Column("device_os", Text),
    Column("device_user_agent", Text),
    Column("billing_country", Text),
    Column("shipping_country", Text),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("attributes", json_type()),
    Column("customer_name_enc", LargeBinary),
    Column("customer_email_enc", LargeBinary),
    Column("customer_phone_enc", LargeBinary),
    Column("ip_address_enc", LargeBinary),
    Column("device_fingerprint_enc", LargeBinary),
    Column("personal_enc", LargeBinary),
    Column("pii_key_id", Text),
    _now(),
    # BLAKE2b of the canonical event (`content_hash`), also in `event_keys` on PostgreSQL; on
    # SQLite the row itself is the idempotency gate (revision 0011; older rows have NULL here
    # and their hash in `event_keys`).
    Column("content_hash", LargeBinary),
    PrimaryKeyConstraint("transaction_id", "event_time", name="pk_transactions"),
)
# Investigator lookups: newest first by card, customer, merchant or time. Ties in time are
# ordered by transaction_id with a small sort over the equal times, which keeps these indexes
# narrow (they are most of the cost of a bulk write). On SQLite the card, customer and merchant
# lookups go through `entity_index` instead (revision 0012, `storage/entities.py`).
Index("ix_transactions_event_time", transactions.c.event_time)
for _entity in ("card_token", "customer_id", "merchant_id"):
    Index(
        f"ix_transactions_{_entity}_time",
        transactions.c[_entity],
        transactions.c.event_time,
        postgresql_where=transactions.c[_entity].isnot(None),
    ).ddl_if(dialect="postgresql")

# SQLite's card, customer and merchant index, kept in bulk (`storage/entities.py`): an entry per
# transaction and entity, (kind, key, event_time, the transaction's rowid), for every transaction
# up to `entity_mark.upto`; the later ones are found by their rowid. Empty on PostgreSQL, whose
# indexes above are kept at each write.
entity_index = Table(
    "entity_index",
    metadata,
    Column("kind", Integer, nullable=False),  # 0 card_token, 1 customer_id, 2 merchant_id
    Column("key", Text, nullable=False),
    Column("event_time", UtcDateTime(), nullable=False),
    Column("tx_rowid", BigInteger, nullable=False),
    PrimaryKeyConstraint("kind", "key", "event_time", "tx_rowid", name="pk_entity_index"),
    sqlite_with_rowid=False,
)
entity_mark = Table(  # one row: every transaction with a rowid up to `upto` is in entity_index
    "entity_mark",
    metadata,
    Column("id", Integer, nullable=False),
    Column("upto", BigInteger, nullable=False),
    PrimaryKeyConstraint("id", name="pk_entity_mark"),
)

labels = Table(
    "labels",
    metadata,
    Column("transaction_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("is_fraud", Boolean, nullable=False),
    Column("fraud_type", Text),
    Column("event_time", UtcDateTime(), nullable=False),
    Column("known_at", UtcDateTime(), nullable=False),
    _now(),
    PrimaryKeyConstraint("transaction_id", "source", name="pk_labels"),
)
Index("ix_labels_known_at", labels.c.known_at)
Index("ix_labels_ingested_at", labels.c.ingested_at)  # the dashboard projector's tail

logins = Table(
    "logins",
    metadata,
    Column("login_id", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("event_time", UtcDateTime(), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("source", Text, nullable=False),
    Column("ip_address_enc", LargeBinary),
    Column("device_id", Text),
    Column("device_type", Text),
    Column("device_os", Text),
    Column("device_user_agent", Text),
    Column("device_fingerprint_enc", LargeBinary),
    Column("country", Text),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("pii_key_id", Text),
    _now(),
    PrimaryKeyConstraint("login_id", name="pk_logins"),
)
Index("ix_logins_customer_time", logins.c.customer_id, logins.c.event_time)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    # The refused record as received, encrypted: it may hold a card number or personal data.
    Column("raw_enc", LargeBinary, nullable=False),
    Column("pii_key_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("field", Text),
    Column("message", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # SQLite: `id` alone (an alias of the rowid); PostgreSQL adds the partition key.
    PrimaryKeyConstraint("id", name="pk_dead_letters"),
)
Index("ix_dead_letters_time", dead_letters.c.created_at, dead_letters.c.id)
Index("ix_dead_letters_reason", dead_letters.c.reason, dead_letters.c.created_at, dead_letters.c.id)
Index("ix_dead_letters_source", dead_letters.c.source, dead_letters.c.created_at, dead_letters.c.id)

decisions = Table(
    "decisions",
    metadata,
    Column("transaction_id", Text, nullable=False),
    Column("event_time", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("risk_score", Float, nullable=False),
    Column("model_score", Float),
    Column("anomaly_score", Float),
    Column("model_version", Text),
    Column("ruleset_version", Text),
    Column("rules_hit", json_type()),
    Column("reasons", json_type()),
    Column("latency_ms", json_type()),
    # On SQLite the key is (event_time, transaction_id): decisions are inserted in time order,
    # near the end of the key, not at random places (revision 0013). Find them by id with
    # `decisions_of`, never by `transaction_id` alone: that would read the whole table there.
    PrimaryKeyConstraint("transaction_id", "event_time", name="pk_decisions"),
)
Index("ix_decisions_event_time", decisions.c.event_time).ddl_if(dialect="postgresql")
Index("ix_decisions_outcome_time", decisions.c.outcome, decisions.c.event_time)


def decisions_of(ids: Sequence[str], dialect: str) -> ColumnElement[bool]:
    """The condition on `decisions` for the decisions of the transactions `ids`, key lookups
    on either store. PostgreSQL: its key's transaction_id. SQLite: each decision's event time
    from its transaction's key (or, for a decision stored without its transaction, from its
    `event_keys` row), then the decision by (event_time, transaction_id); not with its
    transaction_id among `ids` as well: SQLite would then look up every pair of an event time
    and an id."""
    rows = decisions.c
    if dialect == "postgresql":
        return rows.transaction_id.in_(ids)
    x, keys = transactions.c, event_keys.c
    key = tuple_(rows.event_time, rows.transaction_id)
    # Two IN lists, not one of a UNION: SQLite looks up neither a compound subquery's rows.
    of_transactions = select(x.event_time, x.transaction_id).where(x.transaction_id.in_(ids))
    registered = select(keys.event_time, keys.id).where(keys.kind == "decision", keys.id.in_(ids))
    return or_(key.in_(of_transactions), key.in_(registered))


event_keys = Table(
    "event_keys",
    metadata,
    Column("kind", Text, nullable=False),
    Column("id", Text, nullable=False),
    Column("content_hash", LargeBinary, nullable=False),
    Column("event_time", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("kind", "id", name="pk_event_keys"),
    sqlite_with_rowid=False,
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("key", name="pk_checkpoints"),
    sqlite_with_rowid=False,
)

# -- the control plane (revision 0002): what users change, read by running scorers ----------

rule_sets = Table(
    "rule_sets",
    metadata,
    Column("version", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("body", json_type(), nullable=False),  # rules, lists, notes
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("published_at", UtcDateTime()),
    Column("published_by", Text),
    PrimaryKeyConstraint("version", name="pk_rule_sets"),
)

active_rule_set = Table(
    "active_rule_set",
    metadata,
    Column("slot", Integer, nullable=False),  # always 1: one active version
    Column("version", Integer, nullable=False),
    Column("activated_at", UtcDateTime(), nullable=False),
    Column("activated_by", Text, nullable=False),
    PrimaryKeyConstraint("slot", name="pk_active_rule_set"),
)

# Named list values may be personal data (emails, IPs): stored encrypted, keyed by an HMAC.
list_entries = Table(
    "list_entries",
    metadata,
    Column("list_name", Text, nullable=False),
    Column("value_key", Text, nullable=False),
    Column("value_enc", LargeBinary, nullable=False),
    Column("pii_key_id", Text, nullable=False),
    Column("note", Text),
    Column("added_at", UtcDateTime(), nullable=False),
    Column("added_by", Text, nullable=False),
    PrimaryKeyConstraint("list_name", "value_key", name="pk_list_entries"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("secret_hash", Text, nullable=False),  # SHA-256 of a 256-bit random secret
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("revoked_at", UtcDateTime()),
    PrimaryKeyConstraint("key_id", name="pk_api_keys"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("details", json_type()),
    Column("seq", BigInteger, nullable=False),  # 1, 2, 3, ... without gaps
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),  # SHA-256 of prev_hash and the entry (control/audit.py)
    PrimaryKeyConstraint("id", name="pk_audit_log"),
    UniqueConstraint("seq", name="uq_audit_log_seq"),
)
Index("ix_audit_log_at", audit_log.c.at)

audit_head = Table(  # the chain's last entry, locked while appending: one writer at a time
    "audit_head",
    metadata,
    Column("slot", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", Text, nullable=False),
    PrimaryKeyConstraint("slot", name="pk_audit_head"),
)

control_settings = Table(
    "control_settings",
    metadata,
    Column("key", Text, nullable=False),  # e.g. policy.thresholds
    Column("value", json_type(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", Text, nullable=False),
    PrimaryKeyConstraint("key", name="pk_control_settings"),
)

control_revisions = Table(
    "control_revisions",
    metadata,
    Column("name", Text, nullable=False),  # rules, lists, api_keys, policy
    Column("revision", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("name", name="pk_control_revisions"),
)

# -- alerts (revision 0003) -------------------------------------------------------------------

alert_outbox = Table(  # written with the decisions that raise the alerts, then delivered
    "alert_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), autoincrement=True),
    Column("alert_key", Text, nullable=False),  # transaction id + channel: one alert each
    Column("channel", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("transaction_id", Text, nullable=False),
    Column("payload", json_type(), nullable=False),
    Column("status", Text, nullable=False),  # pending, sending, sent, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
    PrimaryKeyConstraint("id", name="pk_alert_outbox"),
    UniqueConstraint("alert_key", name="uq_alert_outbox_key"),
)
Index("ix_alert_outbox_due", alert_outbox.c.status, alert_outbox.c.next_attempt_at)

alert_deliveries = Table(  # every attempt, successful or not
    "alert_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), autoincrement=True),
    Column("outbox_id", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", Text),
    Column("latency_ms", Float),
    PrimaryKeyConstraint("id", name="pk_alert_deliveries"),
)
Index("ix_alert_deliveries_outbox", alert_deliveries.c.outbox_id)

# -- cases (revision 0004) --------------------------------------------------------------------

cases = Table(
    "cases",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), autoincrement=True),
    Column("case_key", Text, nullable=False),  # card:<token> or customer:<id>
    Column("status", Text, nullable=False),  # open, investigating, resolved
    Column("disposition", Text),  # fraud, legitimate, friendly_fraud (when resolved)
    Column("priority", Integer, nullable=False),  # 1 (urgent) .. 3
    Column("queue", Text, nullable=False),  # block, step_up, review: the strongest outcome
    Column("assignee", Text),
    Column("max_risk", Float, nullable=False),
    Column("total_amount", Money(), nullable=False),
    Column("currency", Text),
    Column("decisions", Integer, nullable=False),
    Column("card_token", Text),
    Column("customer_id", Text),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),  # the SLA: resolve by then
    Column("resolved_at", UtcDateTime()),
    Column("resolved_by", Text),
    PrimaryKeyConstraint("id", name="pk_cases"),
)
Index("ix_cases_key_status", cases.c.case_key, cases.c.status)
Index(
    "ix_cases_queue", cases.c.status, cases.c.queue, cases.c.priority, cases.c.opened_at, cases.c.id
)
Index("ix_cases_assignee", cases.c.assignee, cases.c.status)
Index("ix_cases_card", cases.c.card_token)
Index("ix_cases_customer", cases.c.customer_id)

case_decisions = Table(  # a decision belongs to at most one case
    "case_decisions",
    metadata,
    Column("case_id", BigInteger, nullable=False),
    Column("transaction_id", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("risk_score", Float, nullable=False),
    Column("event_time", UtcDateTime(), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("transaction_id", name="pk_case_decisions"),
)
Index("ix_case_decisions_case", case_decisions.c.case_id)

case_notes = Table(
    "case_notes",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), autoincrement=True),
    Column("case_id", BigInteger, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("author", Text, nullable=False),
    Column("text", Text, nullable=False),
    PrimaryKeyConstraint("id", name="pk_case_notes"),
)
Index("ix_case_notes_case", case_notes.c.case_id)

# -- users (revision 0005) --------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("username", Text, nullable=False),
    Column("role", Text, nullable=False),  # admin, analyst, viewer
    Column("password_hash", Text, nullable=False),  # argon2id
    Column("totp_enc", LargeBinary),  # the TOTP secret, AES-256-GCM
    Column("pii_key_id", Text),
    Column("mfa_enabled", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", UtcDateTime()),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_login_at", UtcDateTime()),
    PrimaryKeyConstraint("username", name="pk_users"),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("username", Text, nullable=False),
    Column("code_hash", Text, nullable=False),  # SHA-256 of a random one-time code
    Column("used_at", UtcDateTime()),
    PrimaryKeyConstraint("username", "code_hash", name="pk_recovery_codes"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", Text, nullable=False),  # SHA-256 of the bearer token
    Column("username", Text, nullable=False),
    Column("mfa_passed", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("token_hash", name="pk_sessions"),
)
Index("ix_sessions_user", sessions.c.username)

# -- step-up challenges (revision 0006) -------------------------------------------------------

challenges = Table(
    "challenges",
    metadata,
    Column("transaction_id", Text, nullable=False),
    Column("method", Text, nullable=False),  # sms, email
    Column("code_hash", Text, nullable=False),  # HMAC of the one-time code
    Column("attempts", Integer, nullable=False),
    Column("status", Text, nullable=False),  # pending, passed, failed, expired
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime()),
    PrimaryKeyConstraint("transaction_id", name="pk_challenges"),
)

# -- the features of flagged decisions (revision 0007) ----------------------------------------

decision_features = Table(  # written with review / step_up / block decisions, for case pages
    "decision_features",
    metadata,
    Column("transaction_id", Text, nullable=False),
    Column("event_time", UtcDateTime(), nullable=False),
    Column("features", json_type(), nullable=False),  # feature name -> value (null: missing)
    PrimaryKeyConstraint("transaction_id", "event_time", name="pk_decision_features"),
)

# -- investigations (revision 0008): the investigations work appends its tables here ----------

# The case queue in its order (priority, then age) whatever the filter: every page is an index
# range scan, so deep pages cost what the first one does with a million decisions stored.
Index("ix_cases_order", cases.c.priority, cases.c.opened_at, cases.c.id)
for _column in ("status", "queue", "assignee"):
    Index(
        f"ix_cases_{_column}_order",
        cases.c[_column],
        cases.c.priority,
        cases.c.opened_at,
        cases.c.id,
    )
# SLA breaches are among the unresolved cases (the backlog), found in queue order.
Index(
    "ix_cases_unresolved",
    cases.c.priority,
    cases.c.opened_at,
    cases.c.id,
    cases.c.due_at,
    sqlite_where=text("status != 'resolved'"),
    postgresql_where=text("status != 'resolved'"),
)

passkeys = Table(  # WebAuthn credentials: of users (second factor) and customers (step-up)
    "passkeys",
    metadata,
    Column("credential_id", Text, nullable=False),  # base64url, as the authenticator names it
    Column("owner", Text, nullable=False),  # user:<username> or customer:<customer id>
    Column("public_key", LargeBinary, nullable=False),  # COSE_Key bytes
    Column("sign_count", BigInteger, nullable=False),  # never goes back (a cloned key would)
    Column("transports", json_type()),  # usb, nfc, ble, internal, hybrid
    Column("aaguid", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime()),
    PrimaryKeyConstraint("credential_id", name="pk_passkeys"),
)
Index("ix_passkeys_owner", passkeys.c.owner)

webauthn_challenges = Table(  # one outstanding challenge per subject and purpose, used once
    "webauthn_challenges",
    metadata,
    Column("subject", Text, nullable=False),  # session:<token hash> or step_up:<transaction id>
    Column("purpose", Text, nullable=False),  # register, login, step_up
    Column("challenge", LargeBinary, nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("subject", "purpose", name="pk_webauthn_challenges"),
)

# -- dashboard (revision 0009): the dashboard work appends its tables here --------------------

# The live feed and the projector tail decisions in the order they were decided.
Index("ix_decisions_decided_at", decisions.c.decided_at, decisions.c.transaction_id)


def _rollup(name: str, *columns: Column[object], key: tuple[str, ...]) -> Table:
    """An hourly rollup of the decisions (the dashboard's aggregates), kept by its projector."""
    return Table(
        name,
        metadata,
        Column("hour", UtcDateTime(), nullable=False),
        *columns,
        PrimaryKeyConstraint(*key, name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )


dash_rollup = _rollup(  # per hour x dimension value x outcome
    "dash_rollup",
    Column("dimension", Text, nullable=False),  # all, merchant_country, billing_country, ...
    Column("key", Text, nullable=False),  # the dimension's value ('' when unknown)
    Column("outcome", Text, nullable=False),
    Column("decisions", BigInteger, nullable=False),
    Column("amount", Float, nullable=False),
    Column("labelled", BigInteger, nullable=False),
    Column("fraud", BigInteger, nullable=False),
    Column("fraud_amount", Float, nullable=False),
    key=("dimension", "hour", "key", "outcome"),
)
dash_scores = _rollup(  # risk score histogram (bins of 0.01) per hour x model version
    "dash_scores",
    Column("model_version", Text, nullable=False),
    Column("bin", Integer, nullable=False),
    Column("fraud", BigInteger, nullable=False),
    Column("genuine", BigInteger, nullable=False),  # labelled legitimate
    Column("unlabelled", BigInteger, nullable=False),
    key=("hour", "model_version", "bin"),
)
dash_rules = _rollup(  # rule hits per hour
    "dash_rules",
    Column("rule", Text, nullable=False),
    Column("hits", BigInteger, nullable=False),
    Column("shadow_hits", BigInteger, nullable=False),
    Column("fraud_hits", BigInteger, nullable=False),
    key=("hour", "rule"),
)
dash_latency = _rollup(  # total decision latency histogram (log buckets of 5 %) per hour
    "dash_latency",
    Column("bucket", Integer, nullable=False),
    Column("decisions", BigInteger, nullable=False),
    key=("hour", "bucket"),
)
dash_facts = Table(  # one row per projected decision: never counted twice; its label as counted
    "dash_facts",
    metadata,
    Column("transaction_id", Text, nullable=False),
    Column("event_time", UtcDateTime(), nullable=False),
    Column("is_fraud", Boolean),  # null: unlabelled
    Column("fraud_type", Text),
    PrimaryKeyConstraint("transaction_id", name="pk_dash_facts"),
    sqlite_with_rowid=False,
)

# Partitioned by month on PostgreSQL: table -> partition key column.
PARTITIONED: dict[str, str] = {
    "transactions": "event_time",
    "decisions": "event_time",
    "dead_letters": "created_at",
}
