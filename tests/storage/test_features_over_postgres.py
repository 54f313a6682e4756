"""The offline engine over PostgreSQL: ingest into PostgreSQL, then build and check parity from it.

The same commands as over the embedded store (`tests/features/test_features_cli.py`), with the
store at a PostgreSQL URL: history is read from the partitioned tables and the training set is
computed by DuckDB from it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fraudwatch.features.defaults import default_feature_set
from tests.test_cli_end_to_end import as_json, fraudwatch

pytestmark = pytest.mark.postgres


def test_build_and_parity_over_postgres(postgres_database: str, tmp_path: Path) -> None:
    env = {"FRAUDWATCH_DATABASE_URL": postgres_database}
    stream = tmp_path / "stream.jsonl"
    fraudwatch(
        tmp_path / "h", "simulate", "--transactions", "3000", "--seed", "8", "--out", str(stream)
    )
    ingested = as_json(
        fraudwatch(tmp_path / "h", "ingest", "-f", "json", str(stream), "--json", env_extra=env)
    )
    assert ingested["accepted"] > 3000  # transactions and their labels

    parity = as_json(
        fraudwatch(tmp_path / "h", "features", "parity", "-f", "store", "--json", env_extra=env)
    )
    assert parity["rows"] == 3000 and parity["mismatches"] == 0

    out = tmp_path / "from-postgres.parquet"
    built = as_json(
        fraudwatch(
            tmp_path / "h",
            "features",
            "build",
            "-f",
            "store",
            "--out",
            str(out),
            "--json",
            env_extra=env,
        )
    )
    table = pq.read_table(out)
    assert built["rows"] == table.num_rows == 3000
    assert set(default_feature_set().names) <= set(table.column_names)
    from_file = tmp_path / "from-file.parquet"
    fraudwatch(
        tmp_path / "h2", "features", "build", "-f", "json", str(stream), "--out", str(from_file)
    )
    # the same history gives the same training set, whichever store it was read from
    by_id = table.sort_by("transaction_id")
    reference = pq.read_table(from_file).sort_by("transaction_id")
    for name in default_feature_set().names:
        assert by_id.column(name).equals(reference.column(name)), name
    assert by_id.column("label").equals(reference.column("label"))
