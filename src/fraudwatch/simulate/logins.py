"""Legitimate logins to online banking and wallets.

Customers log in before every transfer and before some online payments (same device and
address, minutes earlier), and also just to look at their account. A few mistype their password
first. Login geo comes from the address: home, the trip destination, or the capital of the
address's country (a mobile carrier's exit point).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudwatch.simulate import catalog
from fraudwatch.simulate.buckets import choose
from fraudwatch.simulate.rhythm import local_seconds
from fraudwatch.simulate.timeline import LoginBatch, TxBatch
from fraudwatch.simulate.world import World

Ints = npt.NDArray[np.int64]
Rng = np.random.Generator

_FAILED_FIRST = 0.03


def legit_logins(world: World, legit: TxBatch, rng: Rng) -> LoginBatch:
    before = _before_payments(world, legit, rng)
    browsing = _browsing(world, rng)
    customer = np.concatenate([before[0], browsing[0]])
    time = np.concatenate([before[1], browsing[1]])
    device = np.concatenate([before[2], browsing[2]])
    ip = np.concatenate([before[3], browsing[3]])
    mistyped = np.flatnonzero(rng.random(customer.size) < _FAILED_FIRST)
    customer = np.concatenate([customer, customer[mistyped]])
    device = np.concatenate([device, device[mistyped]])
    ip = np.concatenate([ip, ip[mistyped]])
    time = np.concatenate([time, time[mistyped] - rng.integers(10, 120, size=mistyped.size)])
    success = np.arange(customer.size) < customer.size - mistyped.size
    country, city = _geo(world, customer, ip)
    return LoginBatch(time, customer, device, ip, success, country, city)


def _before_payments(world: World, legit: TxBatch, rng: Rng) -> tuple[Ints, Ints, Ints, Ints]:
    online = np.isin(legit.entry_mode, (catalog.ECOM, catalog.WALLET_INAPP))
    wanted = (legit.channel == catalog.TRANSFER) | (online & (rng.random(len(legit)) < 0.3))
    rows = np.flatnonzero(wanted & (legit.device >= 0) & (legit.ip > 0))
    time = legit.time[rows] - rng.integers(30, 900, size=rows.size)
    return legit.customer[rows], time, legit.device[rows], legit.ip[rows]


def _browsing(world: World, rng: Rng) -> tuple[Ints, Ints, Ints, Ints]:
    """Logins without a payment, more for customers who bank and shop online more."""
    people = world.customers
    cum = people.channel_cum
    online_share = 1.0 - cum[:, 0] - (cum[:, 2] - cum[:, 1])
    rate = world.config.behaviour.logins_per_customer_day * world.days * 2.0 * online_share
    customer = np.repeat(np.arange(people.size), rng.poisson(rate))
    n = customer.size
    day = choose(world.day_weights(), n, rng)
    away = (people.trip_start[customer] <= day) & (day < people.trip_end[customer])
    city = np.where(away, people.trip_city[customer], people.city[customer])
    seconds = local_seconds(np.full(n, catalog.ECOMMERCE), people.chronotype[customer], rng)
    time = world.local_to_utc(day, seconds, city)
    time = world.start + (time - world.start) % (world.end - world.start)
    device = world.customer_device(customer, rng)
    fresh = rng.random(n) < world.config.behaviour.new_device_rate
    device = np.where(fresh, world.spare_devices(n, rng), device)
    ip = world.customer_ip(customer, rng)
    new = rng.random(n) < world.config.behaviour.new_ip_rate
    ip = np.where(new, world.new_ips(people.country[customer], rng), ip)
    local = away & (rng.random(n) < 0.5)
    ip = np.where(local, world.new_ips(world.geo.city_country[city], rng), ip)
    return customer, time, device, ip


def _geo(world: World, customer: Ints, ip: Ints) -> tuple[Ints, Ints]:
    """Country of the address; its city: home, the trip destination, or the country's capital."""
    geo = world.geo
    people = world.customers
    country = geo.ip_country(ip)
    trip = people.trip_city[customer]
    trip_country = np.where(trip >= 0, geo.city_country[np.maximum(trip, 0)], -1)
    capital = np.array([int(geo.cities_in(c)[0]) for c in range(geo.ip_start.size)])[country]
    home = country == people.country[customer]
    away = np.where(country == trip_country, trip, capital)
    return country, np.where(home, people.city[customer], away)
