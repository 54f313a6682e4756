"""Labels: every fraudulent transaction is found out, some legitimate ones are reviewed.

Who finds fraud out sets when: a chargeback arrives weeks after each transaction (lognormal,
median 18 days), a customer reports the whole incident a day or two after its last payment, an
analyst confirms it within hours. Analysts also review a sample of legitimate transactions,
mostly those that looked unusual (abroad, a new device, online), and confirm them as legitimate.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudwatch.simulate.config import LabelMix, LabelTiming, Scenarios
from fraudwatch.simulate.timeline import (
    ANALYST,
    CHARGEBACK,
    FRAUD_TYPES,
    LabelBatch,
    TxBatch,
)
from fraudwatch.simulate.world import DAY, World

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Rng = np.random.Generator


def _mixes(scenarios: Scenarios) -> Floats:
    """(scenario code, source) shares; row 0 (legit) unused; friendly fraud is a chargeback."""
    table = np.zeros((len(FRAUD_TYPES) + 1, 3))
    for code, name in enumerate(FRAUD_TYPES, start=1):
        mix = getattr(getattr(scenarios, name), "labels", None)
        table[code] = mix.shares() if isinstance(mix, LabelMix) else (1.0, 0.0, 0.0)
    return table


def delays(source: Ints, timing: LabelTiming, rng: Rng) -> Ints:
    """Seconds until a label of each source is known."""
    medians = np.array(
        [
            timing.chargeback_median_days * DAY,
            timing.report_median_hours * 3600,
            timing.analyst_median_minutes * 60,
        ]
    )
    sigmas = np.array([timing.chargeback_sigma, timing.report_sigma, timing.analyst_sigma])
    floors = np.array([2 * DAY, 3600, 300])
    seconds = rng.lognormal(np.log(medians[source]), sigmas[source])
    result: Ints = np.maximum(floors[source], np.rint(seconds)).astype(np.int64)
    return result


def fraud_labels(tx: TxBatch, scenarios: Scenarios, timing: LabelTiming, rng: Rng) -> LabelBatch:
    """One label per fraudulent row; the source is drawn per incident from the scenario's mix.

    Chargebacks come per transaction; a customer report or an analyst finding covers the whole
    incident at once, some time after its last transaction.
    """
    rows = np.flatnonzero(tx.fraud > 0)
    incidents, inverse = np.unique(tx.incident[rows], return_inverse=True)
    code = np.zeros(incidents.size, dtype=np.int64)
    code[inverse] = tx.fraud[rows]
    mix = _mixes(scenarios)[code]
    u = rng.random(incidents.size)
    source = (np.cumsum(mix, axis=1) < u[:, None]).sum(axis=1).clip(0, 2)
    last = np.full(incidents.size, np.iinfo(np.int64).min)
    np.maximum.at(last, inverse, tx.time[rows])
    incident_known = last + delays(source, timing, rng)
    row_source = source[inverse]
    per_row = tx.time[rows] + delays(np.full(rows.size, CHARGEBACK), timing, rng)
    known = np.where(row_source == CHARGEBACK, per_row, incident_known[inverse])
    return LabelBatch(
        transaction=rows,
        is_fraud=np.ones(rows.size, dtype=bool),
        fraud_type=tx.fraud[rows],
        source=row_source,
        known_at=np.maximum(known, tx.time[rows]),
    )


def review_labels(world: World, tx: TxBatch, timing: LabelTiming, rng: Rng) -> LabelBatch:
    """Analysts confirm a sample of legitimate transactions, favouring unusual-looking ones."""
    legit = np.flatnonzero(tx.fraud == 0)
    merchant_country = world.merchants.country[tx.merchant[legit]]
    foreign = merchant_country != world.customers.country[tx.customer[legit]]
    fresh_device = tx.device[legit] >= world.devices.spare_start
    weight = 1.0 + 3.0 * foreign + 3.0 * fresh_device + 1.0 * (tx.three_ds[legit] >= 0)
    chance = np.minimum(1.0, timing.review_rate * weight / max(weight.mean(), 1e-9))
    rows = legit[rng.random(legit.size) < chance]
    source = np.full(rows.size, ANALYST)
    return LabelBatch(
        transaction=rows,
        is_fraud=np.zeros(rows.size, dtype=bool),
        fraud_type=np.zeros(rows.size, dtype=np.int64),
        source=source,
        known_at=tx.time[rows] + delays(source, timing, rng),
    )


def merge(batches: list[LabelBatch]) -> LabelBatch:
    """All labels in arrival order (known_at, then transaction order)."""
    merged = LabelBatch(
        transaction=np.concatenate([b.transaction for b in batches]),
        is_fraud=np.concatenate([b.is_fraud for b in batches]),
        fraud_type=np.concatenate([b.fraud_type for b in batches]),
        source=np.concatenate([b.source for b in batches]),
        known_at=np.concatenate([b.known_at for b in batches]),
    )
    order = np.lexsort((merged.transaction, merged.known_at))
    return merged.take(order)
