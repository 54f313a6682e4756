"""Fraud on the customer's account or profile: account takeover and unusually high amounts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fraudwatch.simulate import catalog
from fraudwatch.simulate.buckets import choose
from fraudwatch.simulate.config import AccountTakeover, HighAmount
from fraudwatch.simulate.incidents import (
    burst_times,
    distinct,
    fraud_rows,
    incident_count,
    incident_rows,
    start_times,
    three_ds_for_fraud,
)
from fraudwatch.simulate.purchases import (
    category_amount,
    global_country,
    place_in_shop,
    place_online,
    set_amount,
)
from fraudwatch.simulate.timeline import ACCOUNT_TAKEOVER, HIGH_AMOUNT, LoginBatch, TxBatch
from fraudwatch.simulate.world import DAY, World

Ints = npt.NDArray[np.int64]
Rng = np.random.Generator

_HIGH_VALUE_ONLINE = [c for c in catalog.HIGH_VALUE if c in catalog.ONLINE]
_HIGH_VALUE_SHOPS = [c for c in catalog.HIGH_VALUE if c in catalog.PHYSICAL]
_TAKEOVER_THREE_DS = np.array([0.35, 0.35, 0.3])  # they often control the OTP channel too
_HIGH_AMOUNT_ENTRY = np.array([0.7, 0.0, 0.2, 0.1])  # chip, contactless, magstripe, manual


@dataclass(frozen=True, slots=True)
class _Session:
    """The fraudster's session per victim: when, from which device, address and place."""

    victim: Ints
    login_at: Ints
    device: Ints
    ip: Ints
    country: Ints
    city: Ints


def account_takeover(
    world: World, config: AccountTakeover, total: int, first: int, rng: Rng
) -> tuple[TxBatch, LoginBatch, int]:
    """Credential stuffing, then a successful login from a new device in a new country.

    Within minutes the fraudster transfers money to mule accounts or buys resellable goods,
    all from the device and address of that login. Many victims had logged in from home a few
    hours before, which makes the takeover an impossible journey.
    """
    low, high = config.min_transactions, max(config.min_transactions, config.max_transactions)
    k = incident_count(config.rate, total, (low + high) / 2)
    session = _session(world, distinct(world.customers.size, k, rng), rng)
    logins = _takeover_logins(world, config, session, rng)

    incident, position = incident_rows(rng.integers(low, high + 1, size=k))
    n = incident.size
    batch = fraud_rows(ACCOUNT_TAKEOVER, incident, first)
    customer = session.victim[incident]
    batch.customer[:] = customer
    batch.card[:] = world.customer_card(customer, rng)
    gaps = np.where(position == 1, rng.uniform(60, 1800, n), rng.exponential(1800, n))
    begin = session.login_at + rng.integers(60, 900, size=k)
    batch.time[:] = burst_times(begin, incident, position, gaps)
    batch.device[:] = session.device[incident]
    batch.ip[:] = session.ip[incident]
    home = world.customers.country[customer]

    transfer = np.flatnonzero(rng.random(n) < config.transfer_probability)
    batch.channel[transfer] = catalog.TRANSFER
    batch.entry_mode[transfer] = catalog.ONLINE_BANKING
    mules = world.merchants.mules
    local = mules.pick(home[transfer], rng.random(transfer.size))
    anywhere = mules.members[rng.integers(0, mules.members.size, size=transfer.size)]
    batch.merchant[transfer] = np.where(local >= 0, local, anywhere)
    spend = np.sqrt(world.customers.spend[customer[transfer]])
    amount = config.median_transfer_eur * spend * rng.lognormal(0.0, 0.6, transfer.size)
    set_amount(world, batch, transfer, amount, rng)

    buy = np.flatnonzero(batch.channel < 0)
    goods = np.array(catalog.RESELLABLE)[rng.integers(0, len(catalog.RESELLABLE), size=buy.size)]
    domestic = rng.random(buy.size) < 0.6
    country = np.where(domestic, home[buy], global_country(buy.size, rng))
    place_online(world, batch, buy, country=country, category=goods, rng=rng)
    batch.channel[buy] = catalog.ECOMMERCE
    batch.entry_mode[buy] = catalog.ECOM
    batch.three_ds[buy] = choose(_TAKEOVER_THREE_DS, buy.size, rng)
    reship = rng.random(buy.size) < 0.6  # a mule's address at home, or straight abroad
    batch.shipping[buy] = np.where(reship, home[buy], session.country[incident[buy]])
    amount = category_amount(world, customer[buy], goods, rng) * 2.5
    set_amount(world, batch, buy, amount, rng)
    return batch.take(batch.time < world.end), logins, first + k


def _session(world: World, victim: Ints, rng: Rng) -> _Session:
    """A country that is neither the victim's home nor their trip destination, and a new device."""
    people = world.customers
    home = people.country[victim]
    trip = people.trip_city[victim]
    trip_country = np.where(trip >= 0, world.geo.city_country[np.maximum(trip, 0)], -1)
    country = world.fraud_country(home, rng)
    clash = country == trip_country
    while clash.any():
        country[clash] = world.fraud_country(home[clash], rng)
        clash = country == trip_country
    return _Session(
        victim=victim,
        login_at=start_times(world, victim.size, 2 * DAY, DAY, rng),
        device=world.fraud_devices(victim.size, rng),
        ip=world.new_ips(country, rng),
        country=country,
        city=world.city_in(country, rng),
    )


def _takeover_logins(
    world: World, config: AccountTakeover, session: _Session, rng: Rng
) -> LoginBatch:
    """The victim's own login from home hours before (for most), the fraudster's failed
    attempts seconds apart, then the fraudster's successful login at `login_at`."""
    people = world.customers
    k = session.victim.size
    failed = rng.integers(0, config.max_failed_logins + 1, size=k)
    incident, position = incident_rows(failed + 1)
    before = (failed[incident] - position) * rng.integers(15, 90, size=incident.size)
    takeover = LoginBatch(
        time=session.login_at[incident] - before,
        customer=session.victim[incident],
        device=session.device[incident],
        ip=session.ip[incident],
        success=position == failed[incident],
        country=session.country[incident],
        city=session.city[incident],
    )
    own = np.flatnonzero(rng.random(k) < 0.7)
    victim = session.victim[own]
    earlier = LoginBatch(
        time=session.login_at[own] - rng.integers(1800, 6 * 3600, size=own.size),
        customer=victim,
        device=people.devices[victim, 0],
        ip=people.ips[victim, 0],
        success=np.ones(own.size, dtype=bool),
        country=people.country[victim],
        city=people.city[victim],
    )
    return LoginBatch.concat([earlier, takeover])


def high_amount(
    world: World, config: HighAmount, total: int, first: int, rng: Rng
) -> tuple[TxBatch, int]:
    """One purchase 8-30x what the customer usually spends in that category.

    Mostly online from an unknown device, sometimes from the customer's own device (a relative,
    malware) or in a shop in the home city: the amount is the main signal, and legitimate big
    tickets exist too.
    """
    k = incident_count(config.rate, total, 1.0)
    people = world.customers
    customer = distinct(people.size, k, rng)
    batch = fraud_rows(HIGH_AMOUNT, np.arange(k), first)
    batch.customer[:] = customer
    batch.card[:] = world.customer_card(customer, rng)
    batch.time[:] = start_times(world, k, 0, 1, rng)
    highest = max(config.min_multiplier, config.max_multiplier)
    multiplier = rng.uniform(config.min_multiplier, highest, k)
    online = rng.random(k) < 0.7

    rows = np.flatnonzero(online)
    buyer = customer[rows]
    goods = np.array(_HIGH_VALUE_ONLINE)[rng.integers(0, len(_HIGH_VALUE_ONLINE), rows.size)]
    home = people.country[buyer]
    country = np.where(rng.random(rows.size) < 0.6, home, global_country(rows.size, rng))
    place_online(world, batch, rows, country=country, category=goods, rng=rng)
    batch.channel[rows] = catalog.ECOMMERCE
    batch.entry_mode[rows] = catalog.ECOM
    own = rng.random(rows.size) < 0.4
    foreign_ip = world.new_ips(world.fraud_country(home, rng), rng)
    proxy_ip = world.new_ips(home, rng)
    stranger_ip = np.where(rng.random(rows.size) < 0.5, foreign_ip, proxy_ip)
    own_device = world.customer_device(buyer, rng)
    batch.device[rows] = np.where(own, own_device, world.fraud_devices(rows.size, rng))
    batch.ip[rows] = np.where(own, world.customer_ip(buyer, rng), stranger_ip)
    batch.three_ds[rows] = three_ds_for_fraud(rows.size, rng)
    batch.shipping[rows] = np.where(np.isin(goods, catalog.RESELLABLE), home, -1)
    amount = category_amount(world, buyer, goods, rng) * multiplier[rows]
    set_amount(world, batch, rows, amount, rng)

    rows = np.flatnonzero(~online)
    buyer = customer[rows]
    goods = np.array(_HIGH_VALUE_SHOPS)[rng.integers(0, len(_HIGH_VALUE_SHOPS), rows.size)]
    city = people.city[buyer]
    place_in_shop(world, batch, rows, city=city, category=goods, regular=0.0, rng=rng)
    batch.channel[rows] = catalog.CARD_PRESENT
    batch.entry_mode[rows] = choose(_HIGH_AMOUNT_ENTRY, rows.size, rng)
    amount = category_amount(world, buyer, goods, rng) * multiplier[rows]
    set_amount(world, batch, rows, amount, rng)
    return batch, first + k
