"""Backtest candidate rules over the stored decisions of a window: the stored transactions
(with a day before the window to warm the features up) and the labels known now, and the
stored outcomes the rules would have changed (`rules.backtest.replay`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from fraudwatch.analytics.views import BacktestResult, Window
from fraudwatch.decisions.policy import Thresholds
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.enrich.ip import IpLocator
from fraudwatch.features.history import load_history_from_store, with_pass_through
from fraudwatch.features.rows import label_row, label_table, tx_table
from fraudwatch.rules.backtest import StoredDecision, replay
from fraudwatch.rules.engine import CompiledRuleSet
from fraudwatch.rules.model import RuleSet, RuleSetError
from fraudwatch.rules.vocabulary import vocabulary
from fraudwatch.storage import EventStore
from fraudwatch.storage import tables as t

WARM_UP = timedelta(days=1)


def stored_decisions(
    conn: Connection, span: Window, weights: Mapping[str, Mapping[str, float]]
) -> dict[str, StoredDecision]:
    """Decisions in the window with their model risk: the stored risk without the weights of
    the rules that fired (from the rule set version that decided; `weights` by version)."""
    d = t.decisions.c
    found = {}
    for tid, outcome, risk, model_score, version, hits in conn.execute(
        select(d.transaction_id, d.outcome, d.risk_score, d.model_score, d.ruleset_version,
               d.rules_hit).where(d.event_time >= span.since, d.event_time < span.until)
    ):  # fmt: skip
        fired = _fired(hits)
        rule_weights = weights.get(version or "", {})
        base = float(risk) - sum(rule_weights.get(name, 0.0) for name in fired) / 100.0
        model_risk = None if model_score is None and not base else min(1.0, max(0.0, base))
        found[tid] = StoredDecision(outcome, model_risk)
    return found


def _fired(hits: Any) -> list[str]:
    if hits is None:
        return []
    document = msgspec.json.decode(hits) if isinstance(hits, str | bytes) else hits
    return list(document.get("fired", []))


def run(
    store: EventStore,
    locator: IpLocator,
    feature_set: FeatureSet,
    rule_set: RuleSet,
    lists: Mapping[str, frozenset[str]],
    thresholds: Thresholds,
    span: Window,
    weights: Mapping[str, Mapping[str, float]],
    *,
    warm_up: timedelta = WARM_UP,
) -> BacktestResult:
    history = load_history_from_store(store, locator, start=span.since - warm_up, end=span.until)
    attributes = history.attribute_names()
    features = with_pass_through(feature_set, attributes)
    rule_vocabulary = vocabulary(features, set(rule_set.lists))
    problems = rule_set.problems(rule_vocabulary)
    if problems:
        raise RuleSetError("the rule set has invalid rules", problems)
    named = {name: lists.get(name, frozenset()) for name in rule_set.lists}
    compiled = CompiledRuleSet(rule_set, rule_vocabulary, named)
    with store.engine.connect() as conn:
        stored = stored_decisions(conn, span, weights)
    if not history.transactions:
        return BacktestResult.model_validate(
            {"transactions": 0, "labelled": 0, "per_rule": [],
             "total": {"hits": 0, "precision": None, "recall": None},
             "changed": {"count": 0, "examples": [], "by_transition": {}}}
        )  # fmt: skip
    report = replay(
        compiled,
        features,
        tx_table(history.transactions, attributes),
        label_table([label_row(label) for label in store.iter_labels()]),  # known now
        stored,
        thresholds,
    )
    return BacktestResult.model_validate(report)
