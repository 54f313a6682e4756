"""`simulate()`: generate a simulation and write it in the requested format, with a summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fraudwatch.errors import UnknownFormatError
from fraudwatch.events.formats.base import writer_names
from fraudwatch.simulate import catalog
from fraudwatch.simulate.arrow import ArrowRenderer
from fraudwatch.simulate.config import SimulationConfig
from fraudwatch.simulate.simulation import Simulation, generate
from fraudwatch.simulate.timeline import FRAUD_TYPES
from fraudwatch.simulate.writers import (
    JSON,
    MULTI_BANK,
    PARQUET,
    EventCounter,
    EventLines,
    OutputFile,
    write_gateway,
    write_json,
    write_multi_bank,
    write_parquet,
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    """What was generated and written, and how fast."""

    transactions: int
    logins: int
    failed_logins: int
    labels: int
    fraud_labels: int
    fraud_transactions: int
    fraud_rate: float
    fraud_by_scenario: dict[str, int]
    transactions_by_source: dict[str, int]
    fraud_by_source: dict[str, int]
    elapsed_seconds: float
    events_per_second: float
    outputs: tuple[OutputFile, ...] = field(default=())

    @property
    def events(self) -> int:
        return self.transactions + self.logins + self.labels

    def to_dict(self) -> dict[str, object]:
        return {
            "transactions": self.transactions,
            "logins": self.logins,
            "failed_logins": self.failed_logins,
            "labels": self.labels,
            "fraud_labels": self.fraud_labels,
            "fraud_transactions": self.fraud_transactions,
            "fraud_rate": self.fraud_rate,
            "fraud_by_scenario": dict(self.fraud_by_scenario),
            "transactions_by_source": dict(self.transactions_by_source),
            "fraud_by_source": dict(self.fraud_by_source),
            "elapsed_seconds": self.elapsed_seconds,
            "events_per_second": self.events_per_second,
            "outputs": [o.to_dict() for o in self.outputs],
        }


def output_formats() -> list[str]:
    """Every value `simulate(format=...)` accepts."""
    return sorted({JSON, PARQUET, MULTI_BANK, *writer_names()})


def simulate(
    config: SimulationConfig,
    out: str,
    format: str = JSON,
    progress: Progress | None = None,
) -> SimulationSummary:
    """Generate the simulation described by `config` and write it to `out` in `format`.

    `out` is a file (or `-` for stdout) for `json`; a directory for `parquet` and `multi-bank`; a
    file plus two sidecar files for a gateway format. `progress(done, total)` counts events.
    """
    if format not in output_formats():
        raise UnknownFormatError(
            f"unknown simulate format {format!r}; known: {', '.join(output_formats())}"
        )
    started = time.perf_counter()
    sim = generate(config)
    counter = EventCounter(len(sim.transactions) + len(sim.logins) + len(sim.labels), progress)
    renderer = ArrowRenderer(sim)
    if format == PARQUET:
        outputs = write_parquet(sim, renderer, out, counter)
    elif format == JSON:
        outputs = write_json(sim, EventLines(sim, renderer), out, counter)
    elif format == MULTI_BANK:
        outputs = write_multi_bank(sim, EventLines(sim, renderer), out, counter)
    else:
        outputs = write_gateway(sim, EventLines(sim, renderer), format, out, counter)
    return summarize(sim, time.perf_counter() - started, tuple(outputs))


def summarize(
    sim: Simulation, elapsed: float, outputs: tuple[OutputFile, ...] = ()
) -> SimulationSummary:
    tx = sim.transactions
    sources = [b.source for b in catalog.INSTITUTIONS]
    bank = sim.world.customers.bank[tx.customer]
    fraud = tx.fraud > 0
    per_source = np.bincount(bank, minlength=len(sources))
    fraud_per_source = np.bincount(bank[fraud], minlength=len(sources))
    per_scenario = np.bincount(tx.fraud, minlength=len(FRAUD_TYPES) + 1)[1:]
    events = len(tx) + len(sim.logins) + len(sim.labels)
    return SimulationSummary(
        transactions=len(tx),
        logins=len(sim.logins),
        failed_logins=int((~sim.logins.success).sum()),
        labels=len(sim.labels),
        fraud_labels=int(sim.labels.is_fraud.sum()),
        fraud_transactions=int(fraud.sum()),
        fraud_rate=float(fraud.mean()) if len(tx) else 0.0,
        fraud_by_scenario=dict(zip(FRAUD_TYPES, per_scenario.tolist(), strict=True)),
        transactions_by_source=dict(zip(sources, per_source.tolist(), strict=True)),
        fraud_by_source=dict(zip(sources, fraud_per_source.tolist(), strict=True)),
        elapsed_seconds=elapsed,
        events_per_second=events / elapsed if elapsed > 0 else 0.0,
        outputs=outputs,
    )
