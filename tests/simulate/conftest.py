"""Simulations shared by the simulator tests: generated once per session, read back as events."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fraudwatch.events.model import Label, Login, Transaction, decode_event
from fraudwatch.simulate import SimulationConfig, SimulationSummary, simulate

REALISM_SIZE = 50_000


@dataclass(frozen=True)
class Stream:
    """A simulation written as canonical JSON Lines, and its lines decoded."""

    path: Path
    summary: SimulationSummary
    lines: list[bytes]
    transactions: list[Transaction]
    logins: list[Login]
    labels: list[Label]

    def fraud_type(self) -> dict[str, str | None]:
        return {label.transaction_id: label.fraud_type for label in self.labels if label.is_fraud}


@pytest.fixture(scope="session")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    """50k transactions with the default scenarios, as one arrival-ordered JSON Lines file."""
    path = tmp_path_factory.mktemp("simulate") / "stream.jsonl"
    summary = simulate(SimulationConfig(transactions=REALISM_SIZE, seed=11), str(path), "json")
    lines = path.read_bytes().splitlines()
    events = [decode_event(line) for line in lines]
    return Stream(
        path=path,
        summary=summary,
        lines=lines,
        transactions=[e for e in events if isinstance(e, Transaction)],
        logins=[e for e in events if isinstance(e, Login)],
        labels=[e for e in events if isinstance(e, Label)],
    )
