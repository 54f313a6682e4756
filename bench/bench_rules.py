"""Rule evaluation cost: the starter rule set (24 rules) over simulated transactions with the
default features, one row at a time (the single-scoring path) and as one batch (batch scoring,
backtests).

Simulates a stream, computes its features with the online engine, builds one row per
transaction (fields + features), fills the named lists (10,000 blocked cards among others), then
times `CompiledRuleSet.evaluate` per row and `evaluate_batch` over all rows (several runs, the
median), and checks that both give the same hits.

    .venv/bin/python bench/bench_rules.py [--transactions 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import numpy as np

from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.history import load_history
from fraudwatch.features.online import OnlineEngine
from fraudwatch.features.rows import TxRow, merge_stream
from fraudwatch.rules import CompiledRuleSet, Type, vocabulary
from fraudwatch.rules.starter import starter_rule_set
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.simulate import SimulationConfig, simulate


def rows(transactions: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        simulate(SimulationConfig(transactions=transactions, seed=3), tmp, "parquet")
        ctx = IngestContext(tokenizer=CardTokenizer(bytes(32)))
        history = load_history("parquet", tmp, ctx, default_locator())
    features = default_feature_set()
    stream = merge_stream(history.transactions, history.labels)
    matrix = OnlineEngine(features).process_batch(stream).matrix
    txs = [item for item in stream if isinstance(item, TxRow)]
    out = []
    for tx, values in zip(txs, matrix, strict=True):
        row: dict[str, Any] = dict(zip(features.names, values.tolist(), strict=True))
        row.update(
            amount=tx.amount / 1e6,
            hour_of_day=tx.hour,
            channel=tx.channel,
            card_token=tx.card,
            customer_id=tx.customer,
            merchant_id=tx.merchant,
            merchant_country=tx.merchant_country,
            billing_country=tx.billing_country,
            ip_country=tx.ip_country,
            ip_address=tx.ip,
            device_id=tx.device,
        )
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data = rows(args.transactions)
    rule_set = starter_rule_set()
    vocab = vocabulary(default_feature_set(), set(rule_set.lists))
    cards = [row["card_token"] for row in data if row["card_token"]]
    lists = {name: frozenset(f"{name}-{i}" for i in range(10_000)) for name in rule_set.lists}
    lists["blocked_cards"] = frozenset(cards[::1000]) | lists["blocked_cards"]
    lists["high_risk_countries"] = frozenset({"KP", "IR", "SY"})
    compiled = CompiledRuleSet(rule_set.publish(vocab, by="bench"), vocab, lists)
    print(
        f"{len(data):,} simulated transactions with {len(default_feature_set())} features; "
        f"{len(compiled.rules)} rules (starter set), lists of 10,000 entries"
    )

    per_row = []
    for run in range(args.runs):
        started = time.perf_counter()
        hits = [compiled.evaluate(row) for row in data]
        per_row.append((time.perf_counter() - started) / len(data) * 1e6)
        print(f"run {run + 1}: one row at a time {per_row[-1]:.2f} µs per transaction")
    columns: dict[str, Any] = {}
    for name, kind in vocab.names.items():
        values = [row.get(name) for row in data]
        if kind is Type.STR:
            columns[name] = np.array(values, dtype=object)
        else:
            columns[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
    per_batch = []
    for run in range(args.runs):
        started = time.perf_counter()
        matrix = compiled.evaluate_batch(columns, len(data))
        per_batch.append((time.perf_counter() - started) / len(data) * 1e6)
        print(f"run {run + 1}: batch {per_batch[-1]:.3f} µs per transaction")
    same = all(compiled.hits_of(matrix, i) == hit for i, hit in enumerate(hits))
    fired = sum(1 for hit in hits if hit.fired)
    print(
        f"one row at a time, median of {args.runs}: {statistics.median(per_row):.2f} µs per "
        f"transaction ({statistics.median(per_row) / len(compiled.rules):.3f} µs per rule)"
    )
    print(
        f"batch of {len(data):,}, median of {args.runs}: {statistics.median(per_batch):.3f} µs "
        f"per transaction"
    )
    print(
        f"transactions with a fired rule: {fired:,} ({fired / len(data):.1%}); "
        f"row and batch hits identical: {same}"
    )


if __name__ == "__main__":
    main()
