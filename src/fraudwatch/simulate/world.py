"""The simulated world: geography, customers, cards, devices, merchants, and the calendar.

Built once per simulation from its own random stream, so the same seed gives the same world
whatever the scenarios do afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from fraudwatch.simulate.config import SimulationConfig
from fraudwatch.simulate.geo import GeoTables, build_geo, utc_offsets
from fraudwatch.simulate.merchants import Merchants, build_merchants
from fraudwatch.simulate.people import (
    Cards,
    Customers,
    Devices,
    build_customers,
    issue_cards,
    issue_devices,
)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

DAY = 86_400
# relative activity by weekday (Monday first): busier Fridays and Saturdays, quieter Sundays
_WEEKDAY = np.array([0.95, 0.97, 1.0, 1.02, 1.12, 1.15, 0.8])


@dataclass(slots=True)
class World:
    """Everything that exists before the first payment, and the helpers that sample from it."""

    config: SimulationConfig
    geo: GeoTables
    customers: Customers
    cards: Cards
    devices: Devices
    merchants: Merchants
    start: int  # epoch seconds of the first simulated day (UTC)
    days: int
    offsets: Ints  # [city, day] seconds east of UTC

    @property
    def end(self) -> int:
        return self.start + self.days * DAY

    def day_weights(self) -> Floats:
        weekday = (self.start // DAY + 3 + np.arange(self.days)) % 7  # 1970-01-01 was a Thursday
        result: Floats = _WEEKDAY[weekday]
        return result

    def local_to_utc(self, day: Ints, local_seconds: Ints, city: Ints) -> Ints:
        """UTC epoch seconds of a local time of day on a simulated day, in a city's time zone."""
        utc: Ints = (
            self.start + day * DAY + local_seconds - self.offsets[city, np.clip(day, 0, self.days)]
        )
        return utc

    def new_ips(self, country: Ints, rng: np.random.Generator) -> Ints:
        """Addresses never seen before, in each row's country."""
        return self.geo.random_ips(country, rng)

    def customer_ip(self, customer: Ints, rng: np.random.Generator) -> Ints:
        """One of the customer's usual addresses (home broadband more often than mobile)."""
        slot = (rng.random(customer.size) < 0.35).astype(np.int64)
        result: Ints = self.customers.ips[customer, slot]
        return result

    def customer_device(self, customer: Ints, rng: np.random.Generator) -> Ints:
        """One of the customer's devices, the phone (slot 0) most often."""
        n = self.customers.n_devices[customer]
        slot = np.where(
            rng.random(customer.size) < 0.6, 0, (rng.random(customer.size) * n).astype(np.int64)
        )
        result: Ints = self.customers.devices[customer, slot]
        return result

    def customer_card(self, customer: Ints, rng: np.random.Generator) -> Ints:
        """One of the customer's cards, the first (main) card most often."""
        n = self.customers.n_cards[customer]
        slot = np.where(
            rng.random(customer.size) < 0.7, 0, (rng.random(customer.size) * n).astype(np.int64)
        )
        result: Ints = self.customers.cards[customer, slot]
        return result

    def spare_devices(self, size: int, rng: np.random.Generator) -> Ints:
        """Legitimate devices new to their user (a new phone, a borrowed laptop)."""
        result: Ints = rng.integers(self.devices.spare_start, self.devices.fraud_start, size=size)
        return result

    def fraud_devices(self, size: int, rng: np.random.Generator) -> Ints:
        """Fraudsters' devices: a small pool, so rings reuse a device across victims."""
        result: Ints = rng.integers(self.devices.fraud_start, self.devices.size, size=size)
        return result

    def currency_of(self, merchant: Ints) -> Ints:
        """Merchants charge in their country's currency (a trip abroad pays in local money)."""
        result: Ints = self.geo.country_currency[self.merchants.country[merchant]]
        return result

    def to_minor(self, amount_eur: Floats, currency: Ints) -> Ints:
        """EUR-equivalent amounts in each currency's minor units (at least one minor unit)."""
        exponent = self.geo.currency_exponent[currency]
        local = amount_eur * self.geo.currency_rate[currency] * (10.0**exponent)
        result: Ints = np.maximum(1, np.rint(local)).astype(np.int64)
        return result

    def fraud_country(self, exclude: Ints, rng: np.random.Generator) -> Ints:
        """A country fraud comes from, different from `exclude` (the victim's home)."""
        weights = self.geo.country_fraud
        picked = rng.choice(weights.size, size=exclude.size, p=weights / weights.sum())
        clash = picked == exclude
        while clash.any():
            picked[clash] = rng.choice(
                weights.size, size=int(clash.sum()), p=weights / weights.sum()
            )
            clash = picked == exclude
        result: Ints = picked.astype(np.int64)
        return result

    def city_in(self, country: Ints, rng: np.random.Generator) -> Ints:
        """A city of each country, weighted by population."""
        out = np.empty(country.size, dtype=np.int64)
        for c in np.unique(country):
            rows = np.flatnonzero(country == c)
            cities = self.geo.cities_in(int(c))
            weights = self.geo.city_population[cities]
            out[rows] = cities[rng.choice(cities.size, size=rows.size, p=weights / weights.sum())]
        return out


def build_world(config: SimulationConfig, rng: np.random.Generator) -> World:
    """The world for `config`; the period starts at midnight UTC of `config.start`'s day."""
    geo = build_geo()
    customers = build_customers(config, geo, rng)
    cards = issue_cards(customers, rng)
    n = customers.size
    devices = issue_devices(
        customers, config.seed, spare=max(100, n // 4), fraud=max(30, n // 150), rng=rng
    )
    merchants = build_merchants(customers, geo, config.seed, rng)
    start = int(config.start.timestamp()) // DAY * DAY
    return World(
        config=config,
        geo=geo,
        customers=customers,
        cards=cards,
        devices=devices,
        merchants=merchants,
        start=start,
        days=config.days,
        offsets=utc_offsets(datetime.fromtimestamp(start, UTC), config.days),
    )
