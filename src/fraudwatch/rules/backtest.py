"""Backtest a rule set over history: what each rule would have hit, and how well.

The history's features are computed point in time (the offline engine: each transaction's
features as the online engine gave them when it arrived), the rules run over them in one batch,
and each rule's hits are compared with the labels known at the end of the history (a
transaction without a fraud label counts as genuine): hits, hit rate, precision, recall and the
fraud amount it would have caught. The set is summed up by the action it would have taken.
`replay` runs candidate rules over stored decisions and says which outcomes they would change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fraudwatch.decisions.policy import Thresholds, decide
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.offline import build_training_set
from fraudwatch.rules.compiler import Column
from fraudwatch.rules.engine import SEVERITY, CompiledRuleSet
from fraudwatch.rules.language import Type
from fraudwatch.rules.model import Action
from fraudwatch.rules.vocabulary import ROW_FIELDS


@dataclass(frozen=True)
class RuleStats:
    name: str
    action: str
    shadow: bool
    hits: int
    hit_rate: float
    fraud_hits: int
    precision: float | None  # None when the rule never fired
    recall: float | None  # None when the history has no fraud
    fraud_amount_caught: float


def rule_columns(
    compiled: CompiledRuleSet, tx: pa.Table, features: pa.Table
) -> tuple[dict[str, Column], int]:
    """The columns the rules read: fields from `tx` (a `tx_table`) and features, by seq."""
    tx = tx.sort_by("seq")
    features = features.sort_by("seq")
    n = tx.num_rows
    columns: dict[str, Column] = {"amount": _floats(tx.column("amount")) / 1e6}
    for field, source in ROW_FIELDS.items():
        values = tx.column(source)
        if pa.types.is_string(values.type):
            columns[field] = np.array(values.to_pylist(), dtype=object)
        else:
            columns[field] = _floats(values)
    for name in compiled.vocabulary.names:
        if name in features.column_names and name not in columns:
            columns[name] = _floats(features.column(name))
    missing = {
        name
        for c in compiled.rules
        for name in c.names
        if name not in columns and compiled.vocabulary.names[name] is not Type.STR
    }
    for name in missing:  # fields history cannot know (e.g. model_score): all missing
        columns[name] = np.full(n, np.nan)
    return columns, n


def backtest(
    compiled: CompiledRuleSet, feature_set: FeatureSet, tx: pa.Table, labels: pa.Table
) -> dict[str, Any]:
    """Hits and quality of every rule, and of the set by action, over the whole history."""
    training = build_training_set(feature_set, tx, labels)
    columns, n = rule_columns(compiled, tx, training)
    fraud = np.nan_to_num(_floats(training.sort_by("seq").column("label"))) == 1.0
    amounts = columns["amount"]
    matrix = compiled.evaluate_batch(columns, n)
    frauds = int(fraud.sum())
    stats = []
    for index, c in enumerate(compiled.rules):
        hit = matrix[:, index]
        hits, fraud_hits = int(hit.sum()), int((hit & fraud).sum())
        stats.append(
            RuleStats(
                name=c.rule.name,
                action=c.rule.action.value,
                shadow=c.rule.shadow,
                hits=hits,
                hit_rate=hits / n if n else 0.0,
                fraud_hits=fraud_hits,
                precision=fraud_hits / hits if hits else None,
                recall=fraud_hits / frauds if frauds else None,
                fraud_amount_caught=round(float(amounts[hit & fraud].sum()), 2),
            )
        )
    return {
        "transactions": n,
        "frauds": frauds,
        "rule_set_version": compiled.version,
        "rules": [asdict(s) for s in stats],
        "actions": _by_action(compiled, matrix, fraud, frauds),
    }


def _by_action(
    compiled: CompiledRuleSet,
    matrix: np.ndarray[Any, Any],
    fraud: np.ndarray[Any, Any],
    frauds: int,
) -> dict[str, dict[str, Any]]:
    """Each transaction's strongest action among its acted-on (not shadow) rules."""
    strongest = np.full(len(fraud), -1)
    for index, c in enumerate(compiled.rules):
        if not c.rule.shadow:
            level = SEVERITY[c.rule.action]
            strongest = np.where(matrix[:, index], np.maximum(strongest, level), strongest)
    out: dict[str, dict[str, Any]] = {}
    for action in Action:
        chosen = strongest == SEVERITY[action]
        count, caught = int(chosen.sum()), int((chosen & fraud).sum())
        out[action.value] = {
            "transactions": count,
            "frauds": caught,
            "precision": caught / count if count else None,
            "recall": caught / frauds if frauds else None,
        }
    return out


def _floats(values: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


@dataclass(frozen=True)
class StoredDecision:
    """What was decided for a transaction, and the model's part of its risk (rules taken out)."""

    outcome: str
    model_risk: float | None


def replay(
    compiled: CompiledRuleSet,
    feature_set: FeatureSet,
    tx: pa.Table,
    labels: pa.Table,
    stored: Mapping[str, StoredDecision],
    thresholds: Thresholds,
    *,
    examples: int = 20,
) -> dict[str, Any]:
    """The candidate rules over the stored decisions' transactions (`tx` may hold earlier ones
    too: they only warm the features up): hits, precision and recall per rule and for the set
    against the labels known now, and the decisions they would have changed, the policy
    re-applied to each stored decision's model risk with the candidate rules' hits."""
    training = build_training_set(feature_set, tx, labels)
    columns, n = rule_columns(compiled, tx, training)
    ordered = tx.sort_by("seq")
    ids = ordered.column("transaction_id").to_pylist()
    times = ordered.column("ts").to_pylist()
    label = _floats(training.sort_by("seq").column("label"))
    inside = np.fromiter((tid in stored for tid in ids), dtype=bool, count=n)
    fraud = (np.nan_to_num(label) == 1.0) & inside
    frauds = int(fraud.sum())
    matrix = compiled.evaluate_batch(columns, n) & inside[:, None]
    acted = np.zeros(n, dtype=bool)
    per_rule = []
    for index, c in enumerate(compiled.rules):
        hit = matrix[:, index]
        if not c.rule.shadow:
            acted |= hit
        per_rule.append(_figures(c.rule.name, hit, fraud, frauds))
    total = _figures("", acted, fraud, frauds)
    del total["rule"]
    return {
        "transactions": int(inside.sum()),
        "labelled": int((~np.isnan(label) & inside).sum()),
        "per_rule": per_rule,
        "total": total,
        "changed": _changes(compiled, matrix, ids, times, inside, stored, thresholds, examples),
    }


def _figures(
    name: str, hit: np.ndarray[Any, Any], fraud: np.ndarray[Any, Any], frauds: int
) -> dict[str, Any]:
    hits, caught = int(hit.sum()), int((hit & fraud).sum())
    return {
        "rule": name,
        "hits": hits,
        "precision": caught / hits if hits else None,
        "recall": caught / frauds if frauds else None,
    }


def _changes(
    compiled: CompiledRuleSet,
    matrix: np.ndarray[Any, Any],
    ids: list[str],
    times: list[int],
    inside: np.ndarray[Any, Any],
    stored: Mapping[str, StoredDecision],
    thresholds: Thresholds,
    examples: int,
) -> dict[str, Any]:
    hits = compiled.hits_all(matrix)
    transitions: Counter[str] = Counter()
    changed: list[tuple[int, str, str, str]] = []
    for row in np.flatnonzero(inside).tolist():
        before = stored[ids[row]]
        after = decide(thresholds, before.model_risk, hits[row]).outcome.value
        if after != before.outcome:
            transitions[f"{before.outcome}->{after}"] += 1
            changed.append((times[row], ids[row], before.outcome, after))
    changed.sort(reverse=True)
    return {
        "count": len(changed),
        "examples": [
            {"transaction_id": tid, "stored_outcome": old, "new_outcome": new}
            for _, tid, old, new in changed[:examples]
        ],
        "by_transition": dict(sorted(transitions.items())),
    }
