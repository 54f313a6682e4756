"""From a history (any ingest format) to the feature frame the models learn from.

`compute_features` is the one place that asks the feature engine for point-in-time features: it
replays the whole history, transactions and labels in stream order, through the online engine
(`online_engine`: the compiled in-process engine), so every row holds exactly what scoring saw
when that transaction arrived — labels count only once known. The offline engine (DuckDB) gives
the same values (the parity check) and can take its place here if it becomes the faster one.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fraudwatch.errors import FraudwatchError
from fraudwatch.events.formats.base import IngestContext, get_format
from fraudwatch.events.model import Label, Transaction
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.enrich.ip import IpLocator
from fraudwatch.features.history import History, load_history_from_store, with_pass_through
from fraudwatch.features.rows import label_row, tx_row
from fraudwatch.storage.store import EventStore

#: transaction fields the models read besides the feature set (amount in EUR, UTC hour)
EVENT_COLUMNS = ("amount_eur", "hour_of_day")
#: categorical transaction fields, encoded with the vocabulary seen in training
CATEGORICAL_COLUMNS = ("channel", "entry_mode")
#: descriptive columns kept for evaluation (never model inputs)
KEY_COLUMNS = ("transaction_id", "ts", "card", "customer", "source", "billing_country")
#: text attributes kept as fairness groups (never model inputs): frame column <- attribute
GROUP_ATTRIBUTES = {"age_band": "customer_age_band", "segment": "customer_segment"}


class ModelDataError(FraudwatchError):
    """The data cannot train or evaluate a model (e.g. no known fraud in the train window)."""

    code = "model_data"


@dataclass
class LabelledHistory:
    """A history plus each fraud label's scenario (`fraud_type`), when the data names one, and
    the fairness groups of each transaction (`GROUP_ATTRIBUTES`, in arrival order)."""

    history: History
    scenarios: dict[str, str] = field(default_factory=dict)
    groups: dict[str, list[str | None]] = field(
        default_factory=lambda: {name: [] for name in GROUP_ATTRIBUTES}
    )

    def keep_groups(self, attributes: Mapping[str, object]) -> None:
        """Record the group attributes of the transaction just accepted."""
        for name, attribute in GROUP_ATTRIBUTES.items():
            value = attributes.get(attribute)
            self.groups[name].append(None if value is None else str(value))


def load_labelled_history(
    format: str,
    location: str,
    ctx: IngestContext,
    locator: IpLocator,
    *,
    columnar: bool = True,
) -> LabelledHistory:
    """Read any ingest format into feature rows (as `features.history.load_history` does),
    keeping the fraud scenario of each fraud label for per-scenario recall. Canonical Parquet
    is read by column (`columnar_history`, the same rows) unless `columnar` is False."""
    was_enabled = gc.isenabled()
    gc.disable()  # millions of long-lived rows: the cyclic collector would only rescan them
    try:
        if columnar and format == "parquet":
            from fraudwatch.models.columnar_history import load_parquet_history

            return load_parquet_history(parquet_files(location), ctx, locator)
        out = LabelledHistory(History())
        seen: set[str] = set()
        for part in _without_logins(format, location):
            for record in get_format(format).read(part, ctx):
                out.history.read += 1
                if record.error is not None:
                    out.history.refused[record.error.reason] += 1
                    continue
                add_events(out, record.events, seen, locator)
        return out
    finally:
        if was_enabled:
            gc.enable()


def _without_logins(format: str, location: str) -> list[str]:
    """Models never read logins: a canonical Parquet directory is read file by file, skipping
    its login files (a quarter of the simulator's records)."""
    path = Path(location)
    if format != "parquet" or not path.is_dir():
        return [location]
    import pyarrow.parquet as pq

    files = sorted(path.glob("*.parquet"))
    kept = [str(f) for f in files if "login_id" not in pq.read_schema(f).names]
    return kept or [location]


def parquet_files(location: str) -> list[Path]:
    """The files `_without_logins` reads, as the columnar reader takes them."""
    path = Path(location)
    if path.is_dir() and not any(path.glob("*.parquet")):
        raise FraudwatchError(f"{location}: no .parquet files in this directory")
    kept = [Path(part) for part in _without_logins("parquet", location)]
    return sorted(path.glob("*.parquet")) if kept == [path] and path.is_dir() else kept


def add_events(
    out: LabelledHistory, events: Iterable[object], seen: set[str], locator: IpLocator
) -> None:
    history = out.history
    for event in events:
        if isinstance(event, Transaction):
            if event.transaction_id in seen:
                history.refused["duplicate"] += 1
                continue
            seen.add(event.transaction_id)
            history.transactions.append(tx_row(event, len(history.transactions), locator))
            out.keep_groups(event.attributes)
        elif isinstance(event, Label):
            history.labels.append(label_row(event))
            if event.is_fraud and event.fraud_type:
                out.scenarios[event.transaction_id] = str(event.fraud_type)


def load_store_history(store: EventStore, locator: IpLocator) -> LabelledHistory:
    return LabelledHistory(load_history_from_store(store, locator))


@dataclass
class FeatureFrame:
    """One row per transaction, in arrival order: keys, event fields, features, the final label
    (every label known, for evaluation) and the label rows themselves (for labels known by a
    cutoff, for training)."""

    rows: pd.DataFrame
    feature_set: FeatureSet
    labels: pd.DataFrame  # transaction_id, known_at (µs), is_fraud; in arrival order

    @property
    def feature_names(self) -> list[str]:
        return self.feature_set.names

    def labels_known_by(self, cutoff_us: int | None) -> np.ndarray:
        """1 where the latest label known by `cutoff_us` says fraud, else 0 (unlabelled
        transactions count as genuine, as they do for a bank on that day)."""
        labels = self.labels
        if cutoff_us is not None:
            labels = labels[labels["known_at"] <= cutoff_us]
        latest = labels.sort_values("known_at", kind="stable").drop_duplicates(
            "transaction_id", keep="last"
        )
        fraud = set(latest.loc[latest["is_fraud"], "transaction_id"])
        out: np.ndarray = self.rows["transaction_id"].isin(fraud).to_numpy().astype(np.int8)
        return out

    def fraud_known_times(self) -> pd.Series:
        """Earliest time each fraudulent transaction became known as fraud (µs)."""
        fraud = self.labels[self.labels["is_fraud"]]
        return fraud.groupby("transaction_id")["known_at"].min()


REPLAY_CHUNK = 65_536


def compute_features(feature_set: FeatureSet, history: History) -> np.ndarray:
    """Point-in-time features of every transaction of `history`: one row per transaction in
    arrival order (seq), columns in `feature_set.names` order."""
    from fraudwatch.features.online import online_engine

    engine = online_engine(feature_set)
    out = np.full((len(history.transactions), len(feature_set.names)), np.nan)
    stream = history.stream
    for start in range(0, len(stream), REPLAY_CHUNK):
        result = engine.process_batch(stream[start : start + REPLAY_CHUNK])
        if result.late:  # impossible on a sorted replay; refuse rather than train on NaNs
            raise ModelDataError(f"{len(result.late)} transactions came out of order")
        if result.seqs:
            out[np.asarray(result.seqs, dtype=np.int64)] = result.matrix
    return out


def build_frame(labelled: LabelledHistory, feature_set: FeatureSet) -> FeatureFrame:
    """Features plus the event fields and keys the models and their evaluation need."""
    history = labelled.history
    if not history.transactions:
        raise ModelDataError("the data holds no transaction")
    features = with_pass_through(feature_set, history.attribute_names())
    rows = pd.DataFrame(compute_features(features, history), columns=features.names, copy=False)
    txs = history.transactions
    rows.insert(0, "transaction_id", [r.transaction_id for r in txs])
    rows.insert(1, "ts", np.fromiter((r.ts for r in txs), np.int64, len(txs)))
    for name, attr in (("card", "card"), ("customer", "customer"), ("source", "source")):
        rows[name] = [getattr(r, attr) for r in txs]
    rows["billing_country"] = [r.billing_country for r in txs]
    rows["amount_eur"] = np.fromiter((r.amount for r in txs), np.float64, len(txs)) / 1e6
    rows["hour_of_day"] = np.fromiter((r.hour for r in txs), np.float64, len(txs))
    rows["channel"] = [r.channel for r in txs]
    rows["entry_mode"] = [r.entry_mode for r in txs]
    rows["scenario"] = rows["transaction_id"].map(labelled.scenarios)
    for name, values in labelled.groups.items():
        if len(values) == len(txs) and any(v is not None for v in values):
            rows[name] = values
    labels = pd.DataFrame(
        {
            "transaction_id": [r.transaction_id for r in history.labels],
            "known_at": np.fromiter((r.known_at for r in history.labels), np.int64),
            "is_fraud": np.fromiter((r.is_fraud for r in history.labels), bool),
        }
    )
    frame = FeatureFrame(rows, features, labels)
    rows["label"] = frame.labels_known_by(None)
    return frame
