"""The named fraud scenarios, run in a fixed order against the legitimate traffic.

Scenario names are the `fraud_type` of their labels: card_testing, stolen_card_spree,
account_takeover, compromised_terminal, high_amount and friendly_fraud. Each runs on its own
random stream, so changing one scenario's knobs leaves the others' incidents as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraudwatch.simulate import catalog
from fraudwatch.simulate.account_fraud import account_takeover, high_amount
from fraudwatch.simulate.card_fraud import card_testing, compromised_terminal, stolen_card_spree
from fraudwatch.simulate.config import Scenarios
from fraudwatch.simulate.incidents import incident_count
from fraudwatch.simulate.timeline import FRIENDLY, LoginBatch, TxBatch
from fraudwatch.simulate.world import World


@dataclass(slots=True)
class ScenarioOutput:
    """What the scenarios add: their rows (fraud, and the legit skims they need) and logins."""

    transactions: TxBatch
    logins: LoginBatch
    next_incident: int


def run_scenarios(
    world: World, scenarios: Scenarios, total: int, rng: np.random.Generator
) -> ScenarioOutput:
    streams = rng.spawn(5)
    testing, incident = card_testing(world, scenarios.card_testing, total, 0, streams[0])
    spree, incident = stolen_card_spree(
        world, scenarios.stolen_card_spree, total, incident, streams[1]
    )
    skimmed, incident = compromised_terminal(
        world, scenarios.compromised_terminal, total, incident, streams[2]
    )
    takeover, logins, incident = account_takeover(
        world, scenarios.account_takeover, total, incident, streams[3]
    )
    big, incident = high_amount(world, scenarios.high_amount, total, incident, streams[4])
    return ScenarioOutput(
        transactions=TxBatch.concat([testing, spree, skimmed, takeover, big]),
        logins=logins,
        next_incident=incident,
    )


def friendly_fraud(
    legit: TxBatch, rate: float, total: int, first_incident: int, rng: np.random.Generator
) -> int:
    """Mark genuine online purchases of goods as later disputed; returns the next incident id.

    Nothing about these rows differs from other legitimate purchases: only the label does.
    """
    candidates = np.flatnonzero(
        (legit.channel == catalog.ECOMMERCE) & (legit.shipping >= 0) & (legit.fraud == 0)
    )
    count = min(incident_count(rate, total, 1.0), candidates.size)
    chosen = np.sort(rng.choice(candidates, size=count, replace=False))
    legit.fraud[chosen] = FRIENDLY
    legit.incident[chosen] = first_incident + np.arange(count)
    return first_incident + count
