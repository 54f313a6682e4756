"""Same seed and config give the same bytes; another seed gives another world."""

from __future__ import annotations

from pathlib import Path

from fraudwatch.simulate import SimulationConfig, simulate
from fraudwatch.simulate.config import Scenarios, StolenCardSpree

CONFIG = SimulationConfig(transactions=3_000, seed=42)
TABLES = ("transactions.parquet", "labels.parquet", "logins.parquet")


def _json(tmp_path: Path, name: str, config: SimulationConfig) -> bytes:
    simulate(config, str(tmp_path / name), "json")
    return (tmp_path / name).read_bytes()


def test_same_seed_same_json_bytes(tmp_path: Path) -> None:
    assert _json(tmp_path, "a.jsonl", CONFIG) == _json(tmp_path, "b.jsonl", CONFIG)


def test_same_seed_same_parquet_bytes(tmp_path: Path) -> None:
    simulate(CONFIG, str(tmp_path / "a"), "parquet")
    simulate(CONFIG, str(tmp_path / "b"), "parquet")
    for table in TABLES:
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()


def test_different_seed_different_output(tmp_path: Path) -> None:
    other = CONFIG.model_copy(update={"seed": 43})
    first, second = _json(tmp_path, "a.jsonl", CONFIG), _json(tmp_path, "b.jsonl", other)
    assert first != second
    assert set(first.splitlines()).isdisjoint(second.splitlines())


def test_changing_one_scenario_leaves_the_world_alone(tmp_path: Path) -> None:
    """Each part has its own random stream: the customers and their cards stay the same."""
    quieter = CONFIG.model_copy(
        update={"scenarios": Scenarios(stolen_card_spree=StolenCardSpree(rate=0.0))}
    )
    first = simulate(CONFIG, str(tmp_path / "a"), "parquet")
    second = simulate(quieter, str(tmp_path / "b"), "parquet")
    assert second.fraud_by_scenario["stolen_card_spree"] == 0
    assert first.fraud_by_scenario["card_testing"] == second.fraud_by_scenario["card_testing"]
