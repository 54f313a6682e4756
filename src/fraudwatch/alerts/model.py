"""An alert: one decision for one channel, as stored in the outbox until delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from fraudwatch.decisions.model import Decision
from fraudwatch.events.model import Transaction


class Alert(msgspec.Struct, kw_only=True):
    alert_key: str  # transaction id and channel: the same decision never alerts a channel twice
    channel: str
    route: str
    transaction_id: str
    created_at: datetime
    payload: dict[str, Any]


def payload(tx: Transaction | None, decision: Decision) -> dict[str, Any]:
    """What an alert says: the decision and the transaction's non-personal facts (no card
    number, no name, email or phone: the card appears as its last four digits)."""
    out: dict[str, Any] = {
        "transaction_id": decision.transaction_id,
        "outcome": decision.outcome.value,
        "risk_score": decision.risk_score,
        "model_score": decision.model_score,
        "rules_hit": decision.rules_hit,
        "reasons": decision.reasons,
        "event_time": decision.event_time.isoformat(),
        "decided_at": decision.decided_at.isoformat(),
        "model_version": decision.model_version,
        "ruleset_version": decision.ruleset_version,
    }
    if tx is not None:
        out.update(
            amount=str(tx.amount),
            currency=tx.currency,
            merchant_id=tx.merchant.id if tx.merchant else None,
            merchant_country=tx.merchant.country if tx.merchant else None,
            card_last4=tx.card.last4 if tx.card else None,
            customer_id=tx.customer_id,
            channel=tx.channel.value if tx.channel else None,
        )
    return out


def summary(data: dict[str, Any]) -> str:
    """One line for humans (Slack text, SMS, email subject)."""
    amount = f"{data['amount']} {data['currency']}" if data.get("amount") else "amount unknown"
    where = f" at {data['merchant_id']}" if data.get("merchant_id") else ""
    if data.get("merchant_country"):
        where += f" ({data['merchant_country']})"
    rules = ", ".join(data.get("rules_hit") or []) or "none"
    return (
        f"{data['outcome'].upper()} {data['transaction_id']}: risk {data['risk_score']:.2f}, "
        f"{amount}{where}; rules: {rules}"
    )
