"""What one decision adds to the hourly rollups, given its label: the projector adds it when the
decision is stored and adds the difference when its label changes, so the rollups always equal
the decisions and their labels known now, without rescanning them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

FLAGGED = frozenset(("review", "step_up", "block"))
SCORE_BINS = 100  # dash_scores keeps bins of 0.01
LATENCY_BASE = 1.05  # dash_latency buckets grow by 5 %
DIMENSIONS = ("all", "merchant_country", "billing_country", "mcc", "channel", "scenario", "model")
UNSPECIFIED_FRAUD = "fraud"  # scenario key of a fraud label without a fraud type

Key = tuple[Any, ...]
Measures = tuple[float, ...]
Delta = dict[tuple[str, Key], list[float]]


@dataclass(frozen=True, slots=True)
class Fact:
    """A stored decision with what the rollups group it by."""

    transaction_id: str
    event_time: datetime
    outcome: str
    risk_score: float
    model_version: str | None
    fired: tuple[str, ...]
    shadow: tuple[str, ...]
    latency_total_ms: float | None
    amount: float
    merchant_country: str | None
    billing_country: str | None
    mcc: str | None
    channel: str | None

    @classmethod
    def from_row(cls, row: Any) -> Fact:
        hits, latency = _document(row.rules_hit), _document(row.latency_ms)
        total = latency.get("total")
        if total is None and latency:
            total = sum(float(v) for v in latency.values())
        return cls(
            row.transaction_id, moment(row.event_time), row.outcome, float(row.risk_score),
            row.model_version, tuple(hits.get("fired", ())), tuple(hits.get("shadow", ())),
            None if total is None else float(total),
            float(row.amount) if row.amount is not None else 0.0,
            row.merchant_country, row.billing_country, row.merchant_mcc, row.channel,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class LabelState:
    is_fraud: bool | None  # None: no label
    fraud_type: str | None = None


UNLABELLED = LabelState(None)


def _document(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        decoded: dict[str, Any] = msgspec.json.decode(value)
        return decoded
    return dict(value)


def moment(value: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime (SQLite's text, or the driver's datetime)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def score_bin(score: float) -> int:
    return min(SCORE_BINS - 1, max(0, int(score * SCORE_BINS)))


def latency_bucket(ms: float) -> int:
    return math.floor(math.log(max(ms, 1e-3)) / math.log(LATENCY_BASE))


def latency_of_bucket(bucket: int) -> float:
    """The bucket's geometric middle, in ms."""
    return float(LATENCY_BASE ** (bucket + 0.5))


def contributions(fact: Fact, label: LabelState) -> dict[tuple[str, Key], Measures]:
    """Rows (table, key) -> measures this decision puts into the rollups."""
    hour = hour_of(fact.event_time)
    fraud = label.is_fraud is True
    labelled = label.is_fraud is not None
    scenario = (label.fraud_type or UNSPECIFIED_FRAUD) if fraud else ""
    keys = (
        "", fact.merchant_country or "", fact.billing_country or "", fact.mcc or "",
        fact.channel or "", scenario, fact.model_version or "",
    )  # fmt: skip
    measures = (1.0, fact.amount, float(labelled), float(fraud), fact.amount if fraud else 0.0)
    out: dict[tuple[str, Key], Measures] = {
        ("dash_rollup", (dimension, hour, key, fact.outcome)): measures
        for dimension, key in zip(DIMENSIONS, keys, strict=True)
    }
    classes = (float(fraud), float(labelled and not fraud), float(not labelled))
    out["dash_scores", (hour, fact.model_version or "", score_bin(fact.risk_score))] = classes
    for rule in fact.fired:
        out["dash_rules", (hour, rule)] = (1.0, 0.0, float(fraud))
    for rule in fact.shadow:
        hits, shadow, fraud_hits = out.get(("dash_rules", (hour, rule)), (0.0, 0.0, 0.0))
        out["dash_rules", (hour, rule)] = (hits, shadow + 1.0, fraud_hits)
    if fact.latency_total_ms is not None:
        out["dash_latency", (hour, latency_bucket(fact.latency_total_ms))] = (1.0,)
    return out


def new_delta() -> Delta:
    return {}


def add(delta: Delta, fact: Fact, label: LabelState, sign: float = 1.0) -> None:
    """Add (sign 1) or take back (sign -1) what `fact` with `label` contributes."""
    for row, measures in contributions(fact, label).items():
        current = delta.get(row)
        if current is None:
            delta[row] = [sign * value for value in measures]
        else:
            for i, value in enumerate(measures):
                current[i] += sign * value


def relabel(delta: Delta, fact: Fact, old: LabelState, new: LabelState) -> None:
    if old != new:
        add(delta, fact, old, -1.0)
        add(delta, fact, new, 1.0)
