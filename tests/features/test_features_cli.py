"""`fraudwatch features`: list, build a training set, and check parity, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fraudwatch.features.defaults import default_feature_set
from tests.test_cli_end_to_end import as_json, fraudwatch


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("features-cli")
    path = folder / "stream.jsonl"
    fraudwatch(
        folder / "h", "simulate", "--transactions", "4000", "--seed", "4", "--out", str(path)
    )
    return path


def test_list_reports_the_version(tmp_path: Path) -> None:
    listed = as_json(fraudwatch(tmp_path, "features", "list", "--json"))
    assert listed["version"] == default_feature_set().version
    assert len(listed["features"]) == len(default_feature_set())


def test_parity_is_exact_on_a_simulated_stream(stream: Path, tmp_path: Path) -> None:
    report = as_json(
        fraudwatch(tmp_path, "features", "parity", "-f", "json", str(stream), "--json")
    )
    assert report["rows"] == 4000
    assert report["mismatches"] == 0
    assert all(item["compared"] == 4000 for item in report["features"].values())


def test_build_writes_a_point_in_time_training_set(stream: Path, tmp_path: Path) -> None:
    out = tmp_path / "training.parquet"
    args = ("features", "build", "-f", "json", str(stream), "--out", str(out), "--json")
    report = as_json(fraudwatch(tmp_path, *args))
    table = pq.read_table(out)
    assert report["rows"] == table.num_rows == 4000
    assert set(default_feature_set().names) <= set(table.column_names)
    metadata = table.schema.metadata
    assert metadata[b"fraudwatch.feature_set_version"].decode() == report["feature_set_version"]
    labels = table.column("label").to_pylist()
    assert 0 < sum(1 for value in labels if value == 1) < 100

    early = tmp_path / "early.parquet"
    cutoff = ("--as-of", "2026-01-10T00:00:00")
    fraudwatch(
        tmp_path, "features", "build", "-f", "json", str(stream), "--out", str(early), *cutoff
    )
    known_early = sum(1 for value in pq.read_table(early).column("label").to_pylist() if value == 1)
    assert known_early < sum(1 for value in labels if value == 1)


def test_parity_and_build_over_the_store(stream: Path, tmp_path: Path) -> None:
    """History can come from the system of record: ingest first, then build from the store."""
    home = tmp_path / "store-home"
    fraudwatch(home, "ingest", "-f", "json", str(stream))
    report = as_json(fraudwatch(home, "features", "parity", "-f", "store", "--json"))
    assert report["rows"] == 4000 and report["mismatches"] == 0
    out = tmp_path / "from-store.parquet"
    built = as_json(
        fraudwatch(home, "features", "build", "-f", "store", "--out", str(out), "--json")
    )
    assert built["rows"] == 4000
