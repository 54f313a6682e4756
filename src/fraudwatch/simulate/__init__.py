"""The synthetic multi-bank payment stream with labelled fraud scenarios.

    from fraudwatch.simulate import SimulationConfig, simulate
    summary = simulate(SimulationConfig(transactions=100_000, seed=7), "out/", "parquet")

See docs/simulator.md for the world, the scenarios and their knobs, and the output formats.
"""

from fraudwatch.simulate.config import SimulationConfig
from fraudwatch.simulate.service import SimulationSummary, output_formats, simulate
from fraudwatch.simulate.writers import OutputFile

__all__ = ["OutputFile", "SimulationConfig", "SimulationSummary", "output_formats", "simulate"]
