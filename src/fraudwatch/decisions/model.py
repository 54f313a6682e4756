"""A decision as it is answered, stored and published: what was decided, why, by which versions,
and how long each stage took."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

import msgspec


class Outcome(StrEnum):
    APPROVE = "approve"
    REVIEW = "review"
    STEP_UP = "step_up"
    BLOCK = "block"


class Decision(msgspec.Struct, kw_only=True, omit_defaults=True):
    transaction_id: str
    event_time: datetime
    decided_at: datetime
    outcome: Outcome
    risk_score: float  # the combined risk the thresholds were applied to, 0..1
    model_score: float | None = None  # calibrated fraud probability
    anomaly_score: float | None = None
    model_version: str | None = None  # None: rules-only mode (no model loaded)
    ruleset_version: str | None = None
    rules_hit: list[str] = []
    shadow_hits: list[str] = []
    reasons: list[str] = []
    latency_ms: dict[str, float] = {}  # per stage: features, model, rules, policy, total
    late: bool = False  # the transaction was too late for its features (they are missing)


_encoder = msgspec.json.Encoder()


def decision_digest(decision: Decision) -> bytes:
    """Content hash stored with the decision's key (the first decision of a transaction wins)."""
    return hashlib.blake2b(_encoder.encode(decision), digest_size=16).digest()
