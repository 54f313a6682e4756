"""Run the compiled feature SQL with DuckDB: over Arrow tables, Parquet files or any relation.

`OfflineEngine(feature_set).compute(tx, labels)` registers the Arrow tables of `rows.tx_table` /
`rows.label_table` in an in-memory DuckDB and returns one row per transaction, ordered by `seq`.
`build_training_set` adds each transaction's label as known at `as_of_us`: what
`fraudwatch features build` writes to Parquet.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from fraudwatch.errors import FraudwatchError
from fraudwatch.features.definitions import FeatureSet, PassThrough
from fraudwatch.features.offline.compiler import compile_feature_set
from fraudwatch.features.offline.labels import training_labels_sql
from fraudwatch.features.offline.sql import ORDER_SHIFT, ident, literal


class OfflineInputError(FraudwatchError):
    """The transactions cannot be computed offline (e.g. `seq` beyond the order-key range)."""

    code = "bad_offline_input"


class OfflineEngine:
    """The offline feature engine for one feature set (its SQL is compiled once)."""

    def __init__(self, feature_set: FeatureSet) -> None:
        self.feature_set = feature_set
        self._attributes = [d.attribute for d in feature_set if isinstance(d, PassThrough)]

    def sql(self, *, tx: str = "tx", labels: str = "labels", ordered: bool = True) -> str:
        """The compiled statement over relations `tx` and `labels` (for inspection or reuse)."""
        return compile_feature_set(self.feature_set, tx=tx, labels=labels, ordered=ordered)

    def compute(self, tx: pa.Table, labels: pa.Table) -> pa.Table:
        """Features of every transaction of `tx` given the `labels`, ordered by seq."""
        with duckdb.connect() as connection:
            connection.register("tx_in", tx)
            connection.register("labels_in_arrow", labels)
            return self.run(connection, tx="tx_in", labels="labels_in_arrow")

    def compute_parquet(self, tx_path: Path, labels_path: Path) -> pa.Table:
        """The same over Parquet files (or globs) of `tx_table` / `label_table` columns."""
        with duckdb.connect() as connection:
            return self.run(
                connection,
                tx=f"read_parquet({literal(str(tx_path))})",
                labels=f"read_parquet({literal(str(labels_path))})",
            )

    def run(self, connection: duckdb.DuckDBPyConnection, *, tx: str, labels: str) -> pa.Table:
        """Execute over relations visible to `connection` (tables, views, table functions)."""
        tx = self.prepared_tx(connection, tx)
        result: pa.Table = connection.sql(self.sql(tx=tx, labels=labels)).to_arrow_table()
        return result

    def prepared_tx(self, connection: duckdb.DuckDBPyConnection, tx: str) -> str:
        """`tx`, checked for the order key and with absent pass-through attributes as NULLs."""
        row = connection.execute(f"SELECT MIN(seq), MAX(seq) FROM {tx}").fetchone()
        if row is not None and row[0] is not None and (row[0] < 0 or row[1] >= ORDER_SHIFT):
            raise OfflineInputError(f"seq must lie in [0, 2^32), got {row[0]}..{row[1]}")
        present = {
            name for (name, *_rest) in connection.execute(f"DESCRIBE SELECT * FROM {tx}").fetchall()
        }
        missing = [
            f"CAST(NULL AS DOUBLE) AS {ident('attr_' + attribute)}"
            for attribute in dict.fromkeys(self._attributes)
            if f"attr_{attribute}" not in present
        ]
        if not missing:
            return tx
        return f"(SELECT *, {', '.join(missing)} FROM {tx})"


def build_training_set(
    feature_set: FeatureSet, tx: pa.Table, labels: pa.Table, *, as_of_us: int | None = None
) -> pa.Table:
    """Features plus `label` (1/0: the latest label known by `as_of_us`, NULL when none) and
    `label_known_at` (µs), one row per transaction ordered by seq.

    With `as_of_us=None` every label counts; features never see a label before it was known.
    """
    indexed = labels.append_column("label_index", pa.array(range(labels.num_rows), pa.int64()))
    engine = OfflineEngine(feature_set)
    with duckdb.connect() as connection:
        connection.register("tx_in", tx)
        connection.register("labels_in_arrow", indexed)
        tx_relation = engine.prepared_tx(connection, "tx_in")
        features = engine.sql(tx=tx_relation, labels="labels_in_arrow", ordered=False)
        latest = training_labels_sql("labels_in_arrow", as_of_us)
        statement = (
            f"WITH features AS (\n{features}\n), latest_label AS (\n{latest}\n)\n"
            "SELECT features.*, CAST(latest_label.is_fraud AS INTEGER) AS label,"
            " latest_label.known_at AS label_known_at\n"
            "FROM features LEFT JOIN latest_label"
            " ON latest_label.transaction_id = features.transaction_id\n"
            "ORDER BY features.seq"
        )
        result: pa.Table = connection.sql(statement).to_arrow_table()
        return result
