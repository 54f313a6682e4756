"""Generate a whole simulation in memory: the world, then the timeline, then the labels.

The timeline is generated vectorised in one go (so scenarios can span the whole period) and
written in slices afterwards. Each part draws from its own child of the seed, so the same seed and
config always give the same simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from fraudwatch.simulate import labels as labelling
from fraudwatch.simulate.columns import hex_strings, mix64
from fraudwatch.simulate.config import DEFAULT_START, SimulationConfig
from fraudwatch.simulate.logins import legit_logins
from fraudwatch.simulate.scenarios import friendly_fraud, run_scenarios
from fraudwatch.simulate.timeline import LabelBatch, LoginBatch, TxBatch
from fraudwatch.simulate.traffic import legit_transactions
from fraudwatch.simulate.world import World, build_world


@dataclass(slots=True)
class Simulation:
    """Transactions and logins in event-time order, labels in known_at order."""

    world: World
    transactions: TxBatch
    logins: LoginBatch
    labels: LabelBatch

    def transaction_ids(self, rows: npt.NDArray[np.int64]) -> pa.Array:
        """Ids of transaction rows: unique (a bijection of the row), random-looking, per seed
        and start day, so streams simulated for consecutive periods (same seed, the next start)
        never reuse each other's ids."""
        return hex_strings("tx_", mix64(rows, self._id_key(10)))

    def login_ids(self, rows: npt.NDArray[np.int64]) -> pa.Array:
        return hex_strings("lgn_", mix64(rows, self._id_key(11)))

    def _id_key(self, kind: int) -> int:
        config = self.world.config
        day = (config.start - DEFAULT_START).days  # 0 for the default start: ids as before
        return config.seed * 7 + kind + day * 1_000_003


def generate(config: SimulationConfig) -> Simulation:
    """The whole simulation for `config`, in memory (about 0.5 GB per million transactions)."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)]
    world = build_world(config, streams[0])
    total = config.transactions
    scenario = run_scenarios(world, config.scenarios, total, streams[1])
    extra = scenario.transactions
    if len(extra) > total // 2:  # only for absurd rates on tiny runs: keep most rows legitimate
        extra = extra.take(np.arange(total // 2))
    legit = legit_transactions(world, total - len(extra), streams[2])
    friendly_fraud(
        legit, config.scenarios.friendly_fraud.rate, total, scenario.next_incident, streams[3]
    )
    logins = LoginBatch.concat([legit_logins(world, legit, streams[4]), scenario.logins])
    logins = logins.take(logins.time >= world.start)  # a login just before the first day
    logins = logins.take(np.argsort(logins.time, kind="stable"))
    transactions = TxBatch.concat([legit, extra])
    del legit, extra  # keep the peak at two copies of the timeline while it is sorted
    transactions = transactions.take(np.argsort(transactions.time, kind="stable"))
    label_rng = streams[5]
    labels = labelling.merge(
        [
            labelling.fraud_labels(transactions, config.scenarios, config.labels, label_rng),
            labelling.review_labels(world, transactions, config.labels, label_rng),
        ]
    )
    return Simulation(world=world, transactions=transactions, logins=logins, labels=labels)
