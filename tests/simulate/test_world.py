"""The world's building blocks: card numbers, IP ranges, ids, amounts, config validation."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from fraudwatch.security.tokens import luhn_valid
from fraudwatch.simulate import SimulationConfig
from fraudwatch.simulate.columns import decimals, dotted_quads, hex_strings, luhn_numbers, mix64
from fraudwatch.simulate.config import CardTesting, Scenarios
from fraudwatch.simulate.geo import COUNTRIES, build_geo
from fraudwatch.simulate.json_lines import amount_strings, iso_times
from fraudwatch.simulate.service import summarize
from fraudwatch.simulate.simulation import generate


def test_luhn_check_digits_match_the_tokenizer() -> None:
    body = np.random.default_rng(0).integers(0, 10, size=(500, 15)).astype(np.uint8)
    numbers = ["".join(map(str, row)) for row in luhn_numbers(body)]
    assert all(luhn_valid(number) for number in numbers)
    assert all(number[:15] == "".join(map(str, row)) for number, row in zip(numbers, body))


def test_ip_ranges_do_not_overlap_and_sample_inside_their_country() -> None:
    geo = build_geo()
    order = np.argsort(geo.ip_base)
    ends = geo.ip_base[order] + geo.ip_size[order]
    assert (geo.ip_base[order][1:] >= ends[:-1]).all()
    country = np.repeat(np.arange(len(COUNTRIES)), 50)
    ips = geo.random_ips(country, np.random.default_rng(1))
    assert (geo.ip_country(ips) == country).all()
    assert all(0 < int(last) < 255 for last in dotted_quads(ips, ips > 0).to_pylist()[0].split("."))


def test_ids_are_unique_and_fixed_width() -> None:
    ids = hex_strings("tx_", mix64(np.arange(200_000), key=7)).to_pylist()
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {19}


def test_amounts_are_exact_in_every_representation() -> None:
    minor = np.array([1, 99, 100, 123_456, 5_000], dtype=np.int64)
    exponent = np.array([2, 2, 2, 2, 0], dtype=np.int64)
    assert decimals(minor, exponent, 6).to_pylist() == [
        Decimal("0.01"),
        Decimal("0.99"),
        Decimal("1.00"),
        Decimal("1234.56"),
        Decimal("5000"),
    ]
    text = amount_strings(minor, exponent).to_pylist()
    assert text == ["0.01", "0.99", "1.00", "1234.56", "5000"]
    assert text == [str(Decimal(int(m)).scaleb(-int(e))) for m, e in zip(minor, exponent)]
    assert iso_times(np.array([1_767_571_200])).to_pylist() == ["2026-01-05T00:00:00Z"]
    assert pa.types.is_decimal(decimals(minor, exponent, 6).type)


def test_config_rejects_unknown_knobs_with_the_field_name() -> None:
    with pytest.raises(ValidationError, match="card_tesitng"):
        SimulationConfig.model_validate({"scenarios": {"card_tesitng": {"rate": 0.1}}})
    with pytest.raises(ValidationError):
        SimulationConfig(transactions=0)


def test_a_zero_rate_disables_a_scenario_and_tiny_runs_stay_mostly_legit() -> None:
    quiet = Scenarios(card_testing=CardTesting(rate=0.0))
    summary = summarize(generate(SimulationConfig(transactions=5_000, scenarios=quiet)), 1.0)
    assert summary.fraud_by_scenario["card_testing"] == 0
    assert summary.fraud_transactions > 0
    tiny = summarize(generate(SimulationConfig(transactions=50)), 1.0)
    assert tiny.transactions == 50
    assert tiny.fraud_transactions == 0


def test_summary_counts_add_up() -> None:
    sim = generate(SimulationConfig(transactions=5_000, seed=3))
    summary = summarize(sim, 2.0)
    assert sum(summary.transactions_by_source.values()) == summary.transactions == 5_000
    assert sum(summary.fraud_by_source.values()) == summary.fraud_transactions
    assert sum(summary.fraud_by_scenario.values()) == summary.fraud_transactions
    assert summary.events_per_second == summary.events / 2.0
    assert summary.to_dict()["fraud_rate"] == summary.fraud_rate


def test_customer_age_band_and_segment_reach_every_transaction() -> None:
    """Profiles follow the catalog's shares and spending, and travel in the attributes of every
    transaction (all three writers take them from the same table)."""
    from fraudwatch.simulate import catalog
    from fraudwatch.simulate.arrow import ArrowRenderer
    from fraudwatch.simulate.events import EventBuilder
    from fraudwatch.simulate.people import attribute_objects

    sim = generate(SimulationConfig(transactions=40_000, seed=4))  # 1,000 customers
    people = sim.world.customers
    shares = np.bincount(people.age_band, minlength=len(catalog.AGE_BANDS)) / people.size
    expected = np.array([share for _, share in catalog.AGE_BANDS])
    assert np.abs(shares - expected / expected.sum()).max() < 0.05  # 3.5 sd
    private, affluent, mass = (people.spend[people.segment == s] for s in (3, 2, 0))
    assert private.min() >= affluent.max() >= mass.max()
    assert 0.05 < (people.segment == 1).mean() < 0.10  # small businesses, 8 % of the rest
    again = generate(SimulationConfig(transactions=40_000, seed=4)).world.customers
    assert (again.age_band == people.age_band).all() and (again.segment == people.segment).all()
    rows = np.arange(200)
    for tx, customer in zip(
        EventBuilder(sim, ArrowRenderer(sim)).transactions(rows),
        sim.transactions.customer[rows],
        strict=True,
    ):
        band, _ = catalog.AGE_BANDS[people.age_band[customer]]
        assert tx.attributes["customer_age_band"] == band
        assert tx.attributes["customer_segment"] == catalog.SEGMENTS[people.segment[customer]]
    assert len(attribute_objects()) == 4 * len(catalog.AGE_BANDS) * len(catalog.SEGMENTS)
