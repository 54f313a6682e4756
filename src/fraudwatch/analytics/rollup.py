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
        """A row of the projector's facts query, by position (`projector._facts_query`:
        transaction_id, event_time, decided_at, outcome, risk_score, model_version, rules_hit,
        latency_ms, amount, merchant_country, billing_country, merchant_mcc, channel)."""
        tid, event_time, _, outcome, risk, model, hits, latency, amount, *where = row
        fired, shadow = _hits(hits)
        merchant_country, billing_country, mcc, channel = where
        return cls(
            tid, moment(event_time), outcome, float(risk), model, fired, shadow,
            _total_ms(latency), float(amount) if amount is not None else 0.0,
            merchant_country, billing_country, mcc, channel,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class LabelState:
    is_fraud: bool | None  # None: no label
    fraud_type: str | None = None


UNLABELLED = LabelState(None)


class _Hits(msgspec.Struct):
    fired: tuple[str, ...] = ()
    shadow: tuple[str, ...] = ()


_hits_decoder = msgspec.json.Decoder(_Hits)
_latency_decoder = msgspec.json.Decoder(dict[str, float])


def _hits(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(fired, shadow) of a stored `rules_hit` document (JSON text, or the driver's dict)."""
    if isinstance(value, str | bytes):
        hits = _hits_decoder.decode(value)
        return hits.fired, hits.shadow
    document = _document(value)
    return tuple(document.get("fired", ())), tuple(document.get("shadow", ()))


def _total_ms(value: Any) -> float | None:
    """A stored `latency_ms` document's total (the sum of its stages when it has none)."""
    latency = _latency_decoder.decode(value) if isinstance(value, str | bytes) else _document(value)
    total = latency.get("total")
    if total is None and latency:
        total = sum(float(v) for v in latency.values())
    return None if total is None else float(total)


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
    """Add (sign 1) or take back (sign -1) what `fact` with `label` contributes: `contributions`
    summed into `delta` directly, without building its rows first (the projector adds every
    stored decision; a test checks both agree)."""
    hour = fact.event_time.replace(minute=0, second=0, microsecond=0)
    fraud = label.is_fraud is True
    labelled = label.is_fraud is not None
    amount = fact.amount
    measures = (
        sign, sign * amount, sign if labelled else 0.0, sign if fraud else 0.0,
        sign * amount if fraud else 0.0,
    )  # fmt: skip
    outcome, model = fact.outcome, fact.model_version or ""
    scenario = (label.fraud_type or UNSPECIFIED_FRAUD) if fraud else ""
    for dimension, key in (
        ("all", ""), ("merchant_country", fact.merchant_country or ""),
        ("billing_country", fact.billing_country or ""), ("mcc", fact.mcc or ""),
        ("channel", fact.channel or ""), ("scenario", scenario), ("model", model),
    ):  # fmt: skip
        _bump(delta, ("dash_rollup", (dimension, hour, key, outcome)), measures)
    _bump(
        delta,
        ("dash_scores", (hour, model, score_bin(fact.risk_score))),
        (
            sign if fraud else 0.0,
            sign if labelled and not fraud else 0.0,
            0.0 if labelled else sign,
        ),
    )
    for rule in dict.fromkeys((*fact.fired, *fact.shadow)):
        fired, shadow = rule in fact.fired, rule in fact.shadow
        _bump(
            delta,
            ("dash_rules", (hour, rule)),
            (sign if fired else 0.0, sign if shadow else 0.0, sign if fired and fraud else 0.0),
        )
    if fact.latency_total_ms is not None:
        _bump(delta, ("dash_latency", (hour, latency_bucket(fact.latency_total_ms))), (sign,))


def _bump(delta: Delta, row: tuple[str, Key], measures: tuple[float, ...]) -> None:
    current = delta.get(row)
    if current is None:
        delta[row] = list(measures)
    else:
        for i, value in enumerate(measures):
            current[i] += value


def relabel(delta: Delta, fact: Fact, old: LabelState, new: LabelState) -> None:
    if old != new:
        add(delta, fact, old, -1.0)
        add(delta, fact, new, 1.0)
