"""PSI and the fairness rates against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fraudwatch.models.dataset import FeatureFrame
from fraudwatch.models.drift import psi, shares
from fraudwatch.models.fairness import fairness_report


def test_psi_by_hand() -> None:
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    current = np.array([1.0, 1.0, 1.0, 4.0])
    edges = np.array([2.5])
    assert shares(reference, edges).tolist() == [0.5, 0.5, 0.0]  # last: missing
    # bins (-inf, 2.5], (2.5, inf): 0.5/0.5 -> 0.75/0.25; the empty missing bin adds nothing
    expected = 0.25 * math.log(1.5) + (-0.25) * math.log(0.5)
    assert psi(reference, current, edges) == pytest.approx(expected)
    assert psi(reference, reference) == 0.0
    with_missing = np.array([1.0, np.nan, 3.0, 4.0])
    assert psi(reference, with_missing, edges) > 0.5  # a quarter missing is a big shift


def test_fairness_rates_by_group() -> None:
    rows = pd.DataFrame(
        {
            "label": [0, 0, 1, 1, 0, 0, 0, 1],
            "billing_country": ["A"] * 4 + ["B"] * 4,
            "source": ["s"] * 8,
            "channel": [None] * 8,
        }
    )
    risk = np.array([0.9, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.9])
    result = fairness_report(rows, risk, 0.5, min_size=1)
    region = result["attributes"]["region"]
    assert region["by_group"]["A"] == {
        "false_positive_rate": 0.5,
        "false_negative_rate": 0.5,
        "selection_rate": 0.5,
        "rows": 4,
    }
    assert region["by_group"]["B"]["false_positive_rate"] == 0.0
    assert region["by_group"]["B"]["selection_rate"] == 0.25
    assert region["difference"]["false_positive_rate"] == 0.5
    assert set(result["attributes"]) == {"region"}  # one source, no channel: nothing to compare


def test_age_band_and_segment_groups_from_the_simulator(simulated_frame: FeatureFrame) -> None:
    """The simulator's customer profile reaches the frame and the fairness table."""
    rows = simulated_frame.rows
    assert set(rows["age_band"]) == {"18-24", "25-34", "35-49", "50-64", "65+"}
    assert set(rows["segment"]) == {"mass", "small_business", "affluent", "private"}
    # the groups are descriptive: never model inputs
    assert "age_band" not in simulated_frame.feature_names
    risk = np.where(rows["segment"] == "private", 0.9, 0.1)
    result = fairness_report(rows, risk, 0.5)
    segment = result["attributes"]["customer segment"]
    assert segment["by_group"]["private"]["selection_rate"] == 1.0
    assert segment["by_group"]["mass"]["selection_rate"] == 0.0
    assert segment["difference"]["selection_rate"] == 1.0
    assert set(result["attributes"]["age band"]["by_group"]) == set(rows["age_band"])
