"""The notebook workflow: define a feature, preview it over history, in a few lines.

    >>> from fraudwatch.features import preview, WindowFeature
    >>> spend = WindowFeature(entity=("card",), agg="sum", field="amount", window="1h")
    >>> table = preview(spend, "history.jsonl", format="json")      # doctest: +SKIP
    >>> table.column("amount_sum_1h_by_card")                          # doctest: +SKIP

`preview` reads any format `fraudwatch ingest` reads (or canonical events you already hold),
computes the features with the offline engine — the same definitions and semantics the online
engine serves — and returns an Arrow table: transaction id, event time, fraud label as known at
the end of the history, then one column per feature.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pyarrow as pa

from fraudwatch.events.formats.base import IngestContext
from fraudwatch.events.model import Label, Transaction
from fraudwatch.features.definitions import Definition, FeatureSet
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.history import History, load_history
from fraudwatch.features.rows import LabelRow, label_table, rows_from_events, tx_table
from fraudwatch.security.tokens import CardTokenizer


def _as_feature_set(features: Definition | Sequence[Definition] | FeatureSet) -> FeatureSet:
    if isinstance(features, FeatureSet):
        return features
    if isinstance(features, Sequence):
        return FeatureSet("preview", tuple(features))
    return FeatureSet("preview", (features,))


def _history_of(events: Iterable[Transaction | Label]) -> History:
    history = History()
    for row in rows_from_events(events, default_locator()):
        if isinstance(row, LabelRow):
            history.labels.append(row)
        else:
            history.transactions.append(row)
    return history


def preview(
    features: Definition | Sequence[Definition] | FeatureSet,
    source: str | Path | Iterable[Transaction | Label],
    *,
    format: str = "json",
    options: Mapping[str, str] | None = None,
    limit: int | None = None,
) -> pa.Table:
    """Features of every transaction in `source` (a path in `format`, or canonical events)."""
    from fraudwatch.features.offline import build_training_set

    feature_set = _as_feature_set(features)
    if isinstance(source, str | Path):
        ctx = IngestContext(tokenizer=CardTokenizer(os.urandom(32)), options=dict(options or {}))
        history = load_history(format, str(source), ctx, default_locator())
    else:
        history = _history_of(source)
    if limit is not None:
        history.transactions = history.transactions[:limit]
    attributes = history.attribute_names()
    table = build_training_set(
        feature_set, tx_table(history.transactions, attributes), label_table(history.labels)
    )
    keep = ["transaction_id", "ts", "label", *feature_set.names]
    return table.select([name for name in keep if name in table.column_names])
