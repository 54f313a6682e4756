"""Prometheus metrics of a scorer: decisions by outcome, stage latencies, queue depths."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fraudwatch.decisions.model import Decision

BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "fraudwatch_decisions",
            "Decisions made, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.stage = Histogram(
            "fraudwatch_stage_seconds",
            "Time per scoring stage (per batch; a single transaction is a batch of one)",
            ["stage"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.queue = Gauge(
            "fraudwatch_queue_depth", "Items waiting, by queue", ["queue"], registry=self.registry
        )
        self.single_batch = Histogram(
            "fraudwatch_single_batch_size",
            "Single-transaction requests scored together in one batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.rules_hits = Counter(
            "fraudwatch_rule_hits",
            "Rule hits (shadow hits included)",
            ["rule", "shadow"],
            registry=self.registry,
        )

        self._children: dict[tuple[object, ...], Any] = {}  # labels() is slow: ~2 µs a call

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, decisions: Sequence[Decision]) -> None:
        """Count the decisions' outcomes and rule hits, and the stage times of the batch they
        were made in (once: a batch's decisions share them). Counted per batch, one increment
        per outcome and rule: a counter's `inc` takes a lock."""
        if not decisions:
            return
        outcomes = collections.Counter(d.outcome.value for d in decisions)
        hits = collections.Counter((rule, "false") for d in decisions for rule in d.rules_hit)
        hits.update((rule, "true") for d in decisions for rule in d.shadow_hits)
        child = self._child
        for outcome, count in outcomes.items():
            child(self.decisions, outcome).inc(count)
        for (rule, shadow), count in hits.items():
            child(self.rules_hits, rule, shadow).inc(count)
        for stage, ms in decisions[0].latency_ms.items():
            child(self.stage, stage).observe(ms / 1000)
