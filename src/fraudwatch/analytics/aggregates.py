"""The dashboard's aggregates, read from the hourly rollups (`rollup.py`, kept by the
projector): a week of a million decisions is a few thousand rollup rows.

Windows are whole hours: `since` is floored and `until` ceiled to the hour. Without them the
window is the 7 days up to the newest stored decision (so demo data from the past shows).
A transaction without a fraud label counts as genuine for precision and average precision.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, String, func, literal, select

from fraudwatch.analytics.cursors import BadQuery
from fraudwatch.analytics.decisions import count_recent
from fraudwatch.analytics.rollup import FLAGGED, SCORE_BINS, latency_of_bucket
from fraudwatch.analytics.views import (
    BreakdownItem,
    GeoItem,
    ModelPerformanceItem,
    Outcomes,
    Percentiles,
    RuleItem,
    ScoreHistogram,
    Summary,
    TrendItem,
    Window,
)
from fraudwatch.storage import tables as t

DEFAULT_WINDOW = timedelta(days=7)
PROJECTOR_CHECKPOINT = "dashboard.projector"  # the projector's cursor (see projector.py)
HOUR = timedelta(hours=1)
BREAKDOWNS = {
    "mcc": "mcc",
    "country": "merchant_country",
    "channel": "channel",
    "scenario": "scenario",
    "outcome": "all",
}
_r = t.dash_rollup.c


def _floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _ceil(moment: datetime) -> datetime:
    floored = _floor(moment)
    return floored if floored == moment else floored + HOUR


def window(conn: Connection, since: datetime | None, until: datetime | None) -> Window:
    """The asked window in whole hours; missing ends from the newest stored decision."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise BadQuery(f"{name}: give a time zone (e.g. 2026-03-01T00:00:00Z)")
    if until is None:
        newest = newest_event(conn)
        if newest is not None:
            until = _floor(newest) + HOUR
        elif since is not None:
            until = since + DEFAULT_WINDOW
        else:
            until = _floor(datetime.now(UTC)) + HOUR
    if since is None:
        since = until - DEFAULT_WINDOW
    since, until = _floor(since), _ceil(until)
    if since >= until:
        raise BadQuery("since: must be before until")
    return Window(since=since, until=until)


def projected_until(conn: Connection) -> datetime | None:
    """The projector's cursor: every decision decided up to then is in the rollups."""
    value = conn.execute(
        select(t.checkpoints.c.value).where(t.checkpoints.c.key == PROJECTOR_CHECKPOINT)
    ).scalar()
    if value is None:
        return None
    moment = datetime.fromisoformat(msgspec.json.decode(value)["decided_at"])
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def newest_event(conn: Connection) -> datetime | None:
    """The event time of the newest stored decision."""
    newest: datetime | None = conn.execute(select(func.max(t.decisions.c.event_time))).scalar()
    return newest


@dataclass
class _Tally:
    decisions: float = 0.0
    amount: float = 0.0
    labelled: float = 0.0
    fraud: float = 0.0
    fraud_amount: float = 0.0

    def add(self, row: Any) -> None:
        self.decisions += float(row.decisions)
        self.amount += float(row.amount)
        self.labelled += float(row.labelled)
        self.fraud += float(row.fraud)
        self.fraud_amount += float(row.fraud_amount)


def _rollup(conn: Connection, dimension: str, span: Window, *, by_hour: bool = False) -> list[Any]:
    """Sums of one dimension's rollup rows in the window, by key and outcome (and hour)."""
    groups = [_r.key, _r.outcome] + ([_r.hour] if by_hour else [])
    query = (
        select(
            *groups,
            func.sum(_r.decisions).label("decisions"),
            func.sum(_r.amount).label("amount"),
            func.sum(_r.labelled).label("labelled"),
            func.sum(_r.fraud).label("fraud"),
            func.sum(_r.fraud_amount).label("fraud_amount"),
        )
        .where(_r.dimension == dimension, _r.hour >= span.since, _r.hour < span.until)
        .group_by(*groups)
    )
    return list(conn.execute(query).all())


def _by_outcome(rows: Iterable[Any]) -> dict[str, _Tally]:
    out: dict[str, _Tally] = defaultdict(_Tally)
    for row in rows:
        out[row.outcome].add(row)
    return out


def summary(conn: Connection, span: Window) -> Summary:
    tallies = _by_outcome(_rollup(conn, "all", span))
    decisions = sum(x.decisions for x in tallies.values())
    flagged = sum(tallies[o].decisions for o in FLAGGED)
    caught = sum(tallies[o].fraud for o in FLAGGED)
    flagged_fraud = caught
    recent = count_recent(conn, 60.0)
    return Summary(
        since=span.since,
        until=span.until,
        decisions=int(decisions),
        by_outcome=Outcomes(**{o: int(x.decisions) for o, x in tallies.items()}),
        flagged_rate=flagged / decisions if decisions else None,
        labelled_fraud=int(sum(x.fraud for x in tallies.values())),
        fraud_caught=int(caught),
        fraud_missed=int(tallies["approve"].fraud),
        fraud_caught_amount=round(sum(tallies[o].fraud_amount for o in FLAGGED), 6),
        fraud_missed_amount=round(tallies["approve"].fraud_amount, 6),
        blocked_amount=round(tallies["block"].amount, 6),
        false_positives=int(flagged - flagged_fraud),
        latency_ms=_latency(conn, span),
        throughput_per_s=recent / 60.0,
        rollups_until=projected_until(conn),
    )


def _latency(conn: Connection, span: Window) -> Percentiles:
    c = t.dash_latency.c
    found = conn.execute(
        select(c.bucket, func.sum(c.decisions))
        .where(c.hour >= span.since, c.hour < span.until)
        .group_by(c.bucket)
        .order_by(c.bucket)
    ).all()
    rows = [(int(bucket), float(count)) for bucket, count in found]
    total = sum(count for _, count in rows)
    if not total:
        return Percentiles()

    def at(q: float) -> float:
        rank, seen = q * total, 0.0
        for bucket, count in rows:
            seen += count
            if seen >= rank:
                return round(latency_of_bucket(bucket), 3)
        return round(latency_of_bucket(rows[-1][0]), 3)

    return Percentiles(p50=at(0.5), p95=at(0.95), p99=at(0.99))


def geo(conn: Connection, span: Window, by: str) -> list[GeoItem]:
    if by not in ("merchant", "customer"):
        raise BadQuery(f"by: {by!r} is not merchant or customer")
    dimension = "merchant_country" if by == "merchant" else "billing_country"
    keyed: dict[str, dict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
    for row in _rollup(conn, dimension, span):
        keyed[row.key][row.outcome].add(row)
    items = [
        GeoItem(
            country=key,
            decisions=int(sum(x.decisions for x in by_outcome.values())),
            flagged=int(sum(by_outcome[o].decisions for o in FLAGGED)),
            blocked=int(by_outcome["block"].decisions),
            fraud=int(sum(x.fraud for x in by_outcome.values())),
            fraud_amount=round(sum(x.fraud_amount for x in by_outcome.values()), 6),
        )
        for key, by_outcome in keyed.items()
    ]
    return sorted(items, key=lambda i: (-i.decisions, i.country))


def trends(conn: Connection, span: Window, bucket: str) -> list[TrendItem]:
    if bucket not in ("hour", "day"):
        raise BadQuery(f"bucket: {bucket!r} is not hour or day")
    starts: dict[datetime, dict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
    for row in _rollup(conn, "all", span, by_hour=True):
        hour = _as_time(row.hour)
        start = hour if bucket == "hour" else hour.replace(hour=0)
        starts[start][row.outcome].add(row)
    return [
        TrendItem(
            start=start,
            decisions=int(sum(x.decisions for x in by_outcome.values())),
            approve=int(by_outcome["approve"].decisions),
            review=int(by_outcome["review"].decisions),
            step_up=int(by_outcome["step_up"].decisions),
            block=int(by_outcome["block"].decisions),
            fraud=int(sum(x.fraud for x in by_outcome.values())),
            fraud_amount=round(sum(x.fraud_amount for x in by_outcome.values()), 6),
            blocked_amount=round(by_outcome["block"].amount, 6),
        )
        for start, by_outcome in sorted(starts.items())
    ]


def _as_time(value: Any) -> datetime:
    """A rollup hour as read back (aware UTC; text on SQLite when computed)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def breakdown(conn: Connection, span: Window, by: str, limit: int) -> list[BreakdownItem]:
    if by not in BREAKDOWNS:
        raise BadQuery(f"by: {by!r} is not one of {', '.join(BREAKDOWNS)}")
    keyed: dict[str, dict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
    for row in _rollup(conn, BREAKDOWNS[by], span):
        keyed[row.outcome if by == "outcome" else row.key][row.outcome].add(row)
    items = []
    for key, by_outcome in keyed.items():
        decisions = sum(x.decisions for x in by_outcome.values())
        fraud = sum(x.fraud for x in by_outcome.values())
        items.append(
            BreakdownItem(
                key=key,
                decisions=int(decisions),
                flagged=int(sum(by_outcome[o].decisions for o in FLAGGED)),
                blocked=int(by_outcome["block"].decisions),
                fraud=int(fraud),
                fraud_rate=fraud / decisions if decisions else None,
                amount=round(sum(x.amount for x in by_outcome.values()), 6),
                fraud_amount=round(sum(x.fraud_amount for x in by_outcome.values()), 6),
            )
        )
    items.sort(key=lambda i: (-i.decisions, i.key))
    return items[:limit]


def average_precision(fraud: list[float], genuine: list[float]) -> float | None:
    """AP of scores binned in ascending bins (ties within a bin are one threshold)."""
    positives = sum(fraud)
    if not positives:
        return None
    tp = fp = ap = 0.0
    for f, g in zip(reversed(fraud), reversed(genuine), strict=True):
        tp, fp = tp + f, fp + g
        if f:
            ap += (tp / (tp + fp)) * (f / positives)
    return ap


def model_performance(conn: Connection, span: Window, bucket: str) -> list[ModelPerformanceItem]:
    """Per bucket (hour, day, or the whole "window") and model version."""
    if bucket not in ("hour", "day", "window"):
        raise BadQuery(f"bucket: {bucket!r} is not hour or day")

    def start_of(hour: Any) -> datetime:
        if bucket == "window":
            return span.since
        moment = _as_time(hour)
        return moment if bucket == "hour" else moment.replace(hour=0)

    groups: dict[tuple[datetime, str], dict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
    for row in _rollup(conn, "model", span, by_hour=True):
        groups[start_of(row.hour), row.key][row.outcome].add(row)
    c = t.dash_scores.c
    bins: dict[tuple[datetime, str], tuple[list[float], list[float]]] = defaultdict(
        lambda: ([0.0] * SCORE_BINS, [0.0] * SCORE_BINS)
    )
    when = _bucket_of(conn, c.hour, bucket)
    for start, version, bin_, fraud, others in conn.execute(
        select(when, c.model_version, c.bin, func.sum(c.fraud), func.sum(c.genuine + c.unlabelled))
        .where(c.hour >= span.since, c.hour < span.until)
        .group_by(when, c.model_version, c.bin)
    ):
        fraud_bins, genuine_bins = bins[start_of(start), version]
        fraud_bins[bin_] += float(fraud)
        genuine_bins[bin_] += float(others)
    items = []
    for (start, version), by_outcome in sorted(groups.items()):
        flagged = sum(by_outcome[o].decisions for o in FLAGGED)
        caught = sum(by_outcome[o].fraud for o in FLAGGED)
        fraud = sum(x.fraud for x in by_outcome.values())
        fraud_bins, genuine_bins = bins[start, version]
        items.append(
            ModelPerformanceItem(
                start=start,
                model_version=version or None,
                decisions=int(sum(x.decisions for x in by_outcome.values())),
                labelled=int(sum(x.labelled for x in by_outcome.values())),
                fraud=int(fraud),
                precision=caught / flagged if flagged else None,
                recall=caught / fraud if fraud else None,
                average_precision=average_precision(fraud_bins, genuine_bins),
            )
        )
    return items


def _bucket_of(conn: Connection, hour: Any, bucket: str) -> Any:
    """A rollup hour truncated to its bucket in SQL, so the database sums the bins (a month of
    hourly score bins is 72,000 rows; of daily ones, 3,000)."""
    if bucket == "hour":
        return hour
    if bucket == "window":
        return literal("", String()).label("start")
    if conn.dialect.name == "postgresql":
        return func.date_trunc("day", func.timezone("UTC", hour)).label("start")  # UTC days
    return func.substr(hour, 1, 10).label("start")  # SQLite keeps times as sortable text


def _histogram(conn: Connection, span: Window, bins: int) -> tuple[list[int], ...]:
    c = t.dash_scores.c
    fraud, genuine, unlabelled = [0] * bins, [0] * bins, [0] * bins
    for bin_, f, g, u in conn.execute(
        select(c.bin, func.sum(c.fraud), func.sum(c.genuine), func.sum(c.unlabelled))
        .where(c.hour >= span.since, c.hour < span.until)
        .group_by(c.bin)
    ):
        target = bin_ * bins // SCORE_BINS
        fraud[target] += int(f)
        genuine[target] += int(g)
        unlabelled[target] += int(u)
    return fraud, genuine, unlabelled


def psi(expected: list[int], actual: list[int]) -> float | None:
    """Population stability index of `actual` against `expected` (bins of equal edges)."""
    total_e, total_a = sum(expected), sum(actual)
    if not total_e or not total_a:
        return None
    floor = 1e-4
    value = 0.0
    for e, a in zip(expected, actual, strict=True):
        p, q = max(e / total_e, floor), max(a / total_a, floor)
        value += (q - p) * math.log(q / p)
    return value


def scores(conn: Connection, span: Window, bins: int, reference: Window | None) -> ScoreHistogram:
    if bins < 1 or SCORE_BINS % bins:
        raise BadQuery(f"bins: {bins} must divide {SCORE_BINS} (e.g. 10, 20, 50, 100)")
    fraud, genuine, unlabelled = _histogram(conn, span, bins)
    actual = [a + b + c for a, b, c in zip(fraud, genuine, unlabelled, strict=True)]
    candidates = [reference] if reference is not None else []
    first = conn.execute(select(func.min(t.dash_scores.c.hour))).scalar()
    if first is not None:
        start = _as_time(first)
        candidates.append(Window(since=start, until=start + DEFAULT_WINDOW))
    drift, reference = None, None
    for candidate in candidates:  # the given reference, else the first stored week
        expected = [a + b + c for a, b, c in zip(*_histogram(conn, candidate, bins), strict=True)]
        if sum(expected):
            drift, reference = psi(expected, actual), candidate
            break
    return ScoreHistogram(
        edges=[round(i / bins, 6) for i in range(bins + 1)],
        fraud=fraud,
        genuine=genuine,
        unlabelled=unlabelled,
        psi=drift,
        reference=reference,
    )


def rules(conn: Connection, span: Window, actions: dict[str, str]) -> list[RuleItem]:
    c = t.dash_rules.c
    decisions = sum(float(row.decisions) for row in _rollup(conn, "all", span))
    items = []
    for rule, *counts in conn.execute(
        select(c.rule, func.sum(c.hits), func.sum(c.shadow_hits), func.sum(c.fraud_hits))
        .where(c.hour >= span.since, c.hour < span.until)
        .group_by(c.rule)
    ):
        hits, shadow, fraud_hits = (int(n) for n in counts)
        items.append(
            RuleItem(
                rule=rule,
                action=actions.get(rule),
                hits=int(hits),
                shadow_hits=int(shadow),
                hit_rate=(hits + shadow) / decisions if decisions else None,
                precision=fraud_hits / hits if hits else None,
                fraud_caught=int(fraud_hits),
            )
        )
    return sorted(items, key=lambda i: (-(i.hits + i.shadow_hits), i.rule))
