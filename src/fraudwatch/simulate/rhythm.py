"""Daily rhythms: at which local hour people pay, per channel, shifted by their chronotype.

Card payments peak at lunch and after work, online shopping in the evening, transfers in office
hours; nights are quiet. A customer's chronotype shifts the whole profile by up to three hours.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]

# relative weight of each local hour 0..23, one row per channel (catalog.CHANNELS order)
_HOURS = np.array(
    [
        [0.3, 0.15, 0.1, 0.08, 0.08, 0.2, 0.6, 1.6, 2.8, 3.5, 4.2, 5.2,
         6.5, 5.8, 5.0, 5.0, 5.6, 6.8, 7.0, 5.8, 4.2, 2.8, 1.6, 0.8],  # card_present
        [1.2, 0.8, 0.5, 0.3, 0.25, 0.3, 0.6, 1.2, 2.2, 3.0, 3.6, 4.2,
         4.8, 4.6, 4.4, 4.4, 4.6, 5.0, 5.6, 6.4, 7.2, 7.0, 5.2, 2.8],  # ecommerce
        [0.4, 0.3, 0.2, 0.1, 0.1, 0.2, 0.5, 1.5, 3.0, 4.0, 4.5, 5.5,
         6.0, 5.5, 5.0, 5.0, 5.5, 6.5, 6.5, 5.5, 4.5, 3.5, 2.0, 1.0],  # atm
        [0.2, 0.1, 0.1, 0.05, 0.05, 0.2, 0.8, 2.5, 4.5, 5.5, 5.8, 5.5,
         5.0, 5.2, 5.4, 5.2, 5.0, 4.6, 4.0, 3.4, 3.0, 2.4, 1.5, 0.6],  # transfer
        [0.4, 0.2, 0.1, 0.08, 0.08, 0.2, 0.8, 2.2, 3.4, 3.6, 4.0, 5.0,
         6.2, 5.6, 4.8, 4.8, 5.4, 6.6, 6.8, 5.6, 4.4, 3.0, 1.8, 0.9],  # wallet
    ]
)  # fmt: skip
_HOUR_CUM = np.cumsum(_HOURS, axis=1) / _HOURS.sum(axis=1, keepdims=True)


def local_seconds(channel: Ints, chronotype: Ints, rng: np.random.Generator) -> Ints:
    """Seconds after local midnight: an hour from the channel's profile, shifted by chronotype."""
    u = rng.random(channel.size)
    hour = np.empty(channel.size, dtype=np.int64)
    for c in range(_HOUR_CUM.shape[0]):
        rows = channel == c
        hour[rows] = np.searchsorted(_HOUR_CUM[c], u[rows], side="right")
    hour = (np.minimum(hour, 23) + chronotype) % 24
    result: Ints = hour * 3600 + rng.integers(0, 3600, size=channel.size)
    return result
