"""Mechanics shared by the fraud scenarios: incident counts, bursts in time, victims, places.

Each scenario produces whole incidents (a burst, a spree, a takeover session ...) whose rows share
an incident id, so they are labelled together. The number of incidents follows the scenario's
`rate`: expected fraud rows = rate x transactions; a scenario whose expected rows are below one
produces nothing (tiny simulations stay mostly legitimate).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudwatch.simulate.buckets import choose
from fraudwatch.simulate.timeline import TxBatch
from fraudwatch.simulate.world import World

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Rng = np.random.Generator

# 3-D Secure outcome weights (authenticated, frictionless, not enrolled) on card-not-present fraud
FRAUD_THREE_DS = np.array([0.12, 0.38, 0.5])


def incident_count(rate: float, total: int, rows_per_incident: float) -> int:
    """How many incidents make `rate x total` rows; none when that is below one row."""
    expected = rate * total
    if expected < 1:
        return 0
    return max(1, round(expected / rows_per_incident))


def incident_rows(sizes: Ints) -> tuple[Ints, Ints]:
    """For incidents of `sizes` rows: each row's incident (0-based) and position within it."""
    incident = np.repeat(np.arange(sizes.size), sizes)
    first = np.cumsum(sizes) - sizes
    position = np.arange(incident.size) - first[incident]
    return incident, position


def burst_times(start: Ints, incident: Ints, position: Ints, gaps: Floats) -> Ints:
    """Row times: incident start plus the running sum of gaps (the first row at the start)."""
    gaps = np.where(position == 0, 0.0, gaps)
    running = np.cumsum(gaps)
    first = np.flatnonzero(position == 0)
    offset = running - running[first][incident]
    result: Ints = start[incident] + np.rint(offset).astype(np.int64)
    return result


def distinct(population: int, size: int, rng: Rng) -> Ints:
    """`size` different members when possible (victims rarely get hit twice in a month)."""
    result: Ints = rng.choice(population, size=size, replace=size > population).astype(np.int64)
    return result


def away_city(
    world: World, home_city: Ints, home_country: Ints, foreign: npt.NDArray[np.bool_], rng: Rng
) -> Ints:
    """A city where the victim isn't: abroad (a fraud-prone country) or another city at home."""
    abroad = world.city_in(world.fraud_country(home_country, rng), rng)
    domestic = world.city_in(home_country, rng)
    retry = world.city_in(home_country, rng)
    domestic = np.where(domestic == home_city, retry, domestic)
    result: Ints = np.where(foreign, abroad, domestic)
    return result


def three_ds_for_fraud(size: int, rng: Rng) -> Ints:
    return choose(FRAUD_THREE_DS, size, rng)


def fraud_rows(code: int, incident: Ints, first_incident: int) -> TxBatch:
    """Blank rows of scenario `code`, one per entry of `incident` (0-based, made global)."""
    batch = TxBatch.empty(incident.size)
    batch.fraud[:] = code
    batch.incident[:] = first_incident + incident
    return batch


def start_times(world: World, size: int, after_start: int, before_end: int, rng: Rng) -> Ints:
    """Uniform times in [start + after_start, end - before_end), the period itself if too short."""
    low, high = world.start + after_start, world.end - before_end
    if high <= low:
        low, high = world.start, world.end
    result: Ints = rng.integers(low, high, size=size)
    return result
