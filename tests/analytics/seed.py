"""A small store seeded with decisions, transactions and labels whose dashboard figures are
worked out by hand in the tests (see the table below)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.events.model import Card, Channel, Label, LabelSource, Merchant, content_hash
from fraudwatch.storage import EventStore, WriteBatch
from tests.conftest import make_transaction

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    tid: str
    minutes: int
    amount: str
    country: str
    billing: str
    mcc: str
    channel: Channel
    outcome: Outcome
    score: float
    fired: tuple[str, ...]
    shadow: tuple[str, ...]
    latency: float
    model: str
    label: tuple[bool, str | None] | None  # (is_fraud, fraud_type)
    card: str = "a"


ONLINE, POS = Channel.ECOMMERCE, Channel.CARD_PRESENT
A, R, S, B = Outcome.APPROVE, Outcome.REVIEW, Outcome.STEP_UP, Outcome.BLOCK
ROWS = (
    Row("tx-1", 0, "100.00", "DE", "DE", "5411", ONLINE, A, 0.05, (), (), 2.0, "v1", None),
    Row("tx-2", 10, "200.00", "DE", "FR", "5411", ONLINE, R, 0.45, ("big",), (), 3.0, "v1",
        (True, "card_testing")),
    Row("tx-3", 20, "300.00", "FR", "FR", "5999", POS, B, 0.95, ("big", "velocity"),
        ("new_rule",), 4.0, "v1", (True, "account_takeover"), card="b"),
    Row("tx-4", 70, "50.00", "FR", "DE", "5999", POS, A, 0.10, (), ("new_rule",), 2.0, "v1",
        (True, "card_testing")),
    Row("tx-5", 80, "400.00", "US", "US", "4829", ONLINE, S, 0.70, ("big",), (), 5.0, "v1",
        (False, None), card="b"),
    Row("tx-6", 24 * 60, "80.00", "DE", "DE", "5411", ONLINE, B, 0.92, (), (), 3.0, "v2", None),
)  # fmt: skip


def label(tid: str, is_fraud: bool, fraud_type: str | None, *, days: int = 5,
          source: LabelSource = LabelSource.CHARGEBACK) -> Label:  # fmt: skip
    return Label(
        transaction_id=tid, is_fraud=is_fraud, fraud_type=fraud_type, event_time=T0,
        known_at=T0 + timedelta(days=days), source=source,
    )  # fmt: skip


def seed(store: EventStore, rows: tuple[Row, ...] = ROWS) -> None:
    txs, decisions, labels = [], [], []
    for r in rows:
        at = T0 + timedelta(minutes=r.minutes)
        tx = make_transaction(
            transaction_id=r.tid, event_time=at, amount=Decimal(r.amount),
            card=Card(token="tok_" + r.card * 32, bin="411111", last4="1111"),
            customer_id=f"cust-{r.card}", channel=r.channel, billing_country=r.billing,
            merchant=Merchant(id=f"m-{r.country}", name=f"Shop {r.country}", mcc=r.mcc,
                              country=r.country),
        )  # fmt: skip
        txs.append((tx, content_hash(tx)))
        decisions.append(
            Decision(
                transaction_id=r.tid, event_time=at, decided_at=at + timedelta(seconds=1),
                outcome=r.outcome, risk_score=r.score, model_version=r.model,
                ruleset_version="1", rules_hit=list(r.fired), shadow_hits=list(r.shadow),
                reasons=["amount"], latency_ms={"features": 0.5, "total": r.latency},
            )
        )  # fmt: skip
        if r.label is not None:
            made = label(r.tid, r.label[0], r.label[1])
            labels.append((made, content_hash(made)))
    store.write(WriteBatch(transactions=txs, decisions=decisions, labels=labels))
