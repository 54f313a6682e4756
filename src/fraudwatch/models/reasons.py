"""Reason codes: why a transaction was flagged, in words an analyst reads.

Each reason is one feature's exact tree SHAP contribution to the margin (LightGBM: the values
of `pred_contrib`, computed by the numba explainer of `treeshap`; XGBoost: `pred_contribs`),
phrased from the feature's name and value ("amount 9.0x the customer's usual (30 days)", "3rd
country on this card in an hour"). On the benchmark champion (291 trees of 31 leaves) they cost
0.45 ms per row alone and 0.39 ms per row in batches of 30 (LightGBM's pred_contrib: 2.8 and
2.6 ms; one thread, medians of 3, `bench/bench_models.py --shap-model`), so `explain` computes
them only for rows whose decision is not approve.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numpy as np

from fraudwatch.models.bundle import ModelBundle

WINDOWS = {"10m": "10 minutes", "1h": "an hour", "24h": "24 hours", "7d": "7 days"}


@dataclass(frozen=True)
class Reason:
    feature: str
    value: float
    contribution: float
    text: str

    def as_dict(self) -> dict[str, object]:
        value = None if math.isnan(self.value) else self.value
        return {**self.__dict__, "value": value, "contribution": round(self.contribution, 4)}


def _window(text: str) -> str:
    if text in WINDOWS:
        return WINDOWS[text]
    number, unit = text[:-1], text[-1]
    return f"{number} " + {"m": "minutes", "h": "hours", "d": "days", "s": "seconds"}[unit]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


PLACES = {
    "card": "on this card",
    "customer": "by this customer",
    "merchant": "at this merchant",
    "terminal": "at this terminal",
    "device": "from this device",
    "ip": "from this IP address",
    "account": "on this account",
}


def _place(text: str) -> str:
    return PLACES.get(text, f"for this {_entity(text)}")


def _entity(text: str) -> str:
    return text.replace("_x_", " and ").replace("_", " ")


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


PATTERNS: list[tuple[str, str]] = [
    (r"tx_count_(\w+?)_by_(\w+?)_where_channel_(\w+)", "{v:.0f} {g3} payments {on2} in {w1}"),
    (r"tx_count_(\w+?)_by_(\w+)", "{v:.0f} payments {on2} in {w1}"),
    (r"amount_sum_(\w+?)_by_(\w+)", "{v:,.0f} EUR spent {on2} in {w1}"),
    (r"amount_mean_(\w+?)_by_(\w+)", "{v:,.0f} EUR per payment {on2} over {w1}"),
    (r"amount_max_(\w+?)_by_(\w+)", "largest payment {v:,.0f} EUR {on2} in {w1}"),
    (r"amount_ratio_to_mean_(\w+?)_by_(\w+)", "amount {v:.1f}x the {e2}'s usual ({w1})"),
    (r"amount_zscore_(\w+?)_by_(\w+)", "amount {v:.1f} standard deviations from the {e2}'s usual"),
    (r"amount_std_(\w+?)_by_(\w+)", "{e2}'s amounts vary by {v:,.0f} EUR ({w1})"),
    (r"hour_deviation_(\w+?)_by_(\w+)", "unusual hour: {p} of the {e2}'s payments at other hours"),
    (r"(\w+?)_first_seen_(\w+?)_by_(\w+)", "{first}"),
    (r"time_since_last_by_(\w+)", "{d} since the {e1}'s previous payment"),
    (r"distance_from_home_km_(\w+?)_by_(\w+)", "{v:,.0f} km from the {e2}'s usual places"),
    (r"distance_from_previous_km_by_(\w+)", "{v:,.0f} km from the {e1}'s previous payment"),
    (r"speed_from_previous_kmh_by_(\w+)", "{v:,.0f} km/h needed since the {e1}'s previous payment"),
    (r"merchant_country_distinct_(\w+?)_by_(\w+)", "{o} country {on2} in {w1}"),
    (r"(\w+?)_distinct_(\w+?)_by_(\w+)", "{v:.0f} {e1}s {on3} in {w2}"),
    (r"mismatch_(\w+?_country)_(\w+_country)", "{mismatch}"),
    (r"fraud_count_(\w+?)_by_(\w+)", "{v:.0f} known frauds {on2} in {w1}"),
    (r"fraud_rate_(\w+?)_by_(\w+)", "{v:.1%} of this {e2}'s payments in {w1} were fraud"),
    (r"amount_eur", "amount {v:,.2f} EUR"),
    (r"hour_of_day", "at {v:02.0f}:00 UTC"),
]


@functools.lru_cache(maxsize=4096)
def _template(feature: str) -> tuple[str, dict[str, str], tuple[str, ...]] | None:
    """The first pattern `feature` matches: its template, the fields its name gives, and the
    name's groups. Remembered per feature name: the regular expressions were most of a phrase's
    cost (28-31 µs a phrase with them, 6 without: docs/benchmarks.md)."""
    for pattern, template in PATTERNS:
        match = re.fullmatch(pattern, feature)
        if match is None:
            continue
        groups = match.groups()
        named: dict[str, str] = {}
        for i, group in enumerate(groups, start=1):
            named[f"g{i}"] = group
            named[f"e{i}"] = _entity(group)
            named[f"on{i}"] = _place(group)
            named[f"w{i}"] = _window(group) if re.fullmatch(r"\d+[smhd]", group) else group
        return template, named, groups
    return None


def phrase(feature: str, value: float, categories: dict[str, tuple[str, ...]] | None = None) -> str:
    """A human sentence for one feature value (falls back to `name = value`)."""
    if categories and feature in categories:
        known = categories[feature]
        index = int(value) if not math.isnan(value) and 0 <= value < len(known) else None
        shown = known[index] if index is not None else "unknown"
        return f"{feature.replace('_', ' ')} {shown}"
    if math.isnan(value):
        return f"no {feature.replace('_', ' ')} (missing)"
    found = _template(feature)
    if found is not None:
        template, named, groups = found
        fields: dict[str, object] = {"v": value, "p": f"{value:.0%}", "d": _duration(value)}
        fields.update(named)
        if "{o}" in template:
            fields["o"] = _ordinal(round(value)) if math.isfinite(value) else f"{value}"
        if "{first}" in template:
            what, _, who = (_entity(g) for g in groups)
            fields["first"] = (
                f"first {what} for this {who} in {_window(groups[1])}"
                if value >= 0.5
                else f"{what} this {who} used before"
            )
        if "{mismatch}" in template:
            a, b = (_entity(g) for g in groups)
            fields["mismatch"] = f"{a} differs from {b}" if value >= 0.5 else f"{a} matches {b}"
        return template.format(**fields)
    if feature.startswith("attr_"):
        return f"{feature[5:]} = {value:g}"
    return f"{feature.replace('_', ' ')} = {value:g}"


def reasons(bundle: ModelBundle, x: np.ndarray, top: int = 3) -> list[list[Reason]]:
    """The `top` features that pushed each row's risk up most (positive contributions only)."""
    if len(x) == 0:
        return []
    contributions = bundle.classifier.contributions(x)[:, :-1]  # last column: the bias
    columns = bundle.layout.columns
    out: list[list[Reason]] = []
    for row, contrib in zip(x, contributions, strict=True):
        order = np.argsort(-contrib, kind="stable")[:top]
        out.append(
            [
                Reason(
                    columns[i],
                    float(row[i]),
                    float(contrib[i]),
                    phrase(columns[i], float(row[i]), bundle.layout.categories),
                )
                for i in order
                if contrib[i] > 0
            ]
        )
    return out


def explain(
    bundle: ModelBundle, x: np.ndarray, decisions: np.ndarray, top: int = 3
) -> list[list[Reason] | None]:
    """Reasons for review / step_up / block rows only; None on the approve path."""
    flagged = np.flatnonzero(decisions >= 1)
    found = reasons(bundle, x[flagged], top)
    out: list[list[Reason] | None] = [None] * len(x)
    for index, row_reasons in zip(flagged, found, strict=True):
        out[int(index)] = row_reasons
    return out
