"""Fraud on card credentials: card testing, stolen card sprees, compromised (skimmed) terminals."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudwatch.simulate import catalog
from fraudwatch.simulate.buckets import choose
from fraudwatch.simulate.config import CardTesting, CompromisedTerminal, StolenCardSpree
from fraudwatch.simulate.incidents import (
    away_city,
    burst_times,
    distinct,
    fraud_rows,
    incident_count,
    incident_rows,
    start_times,
    three_ds_for_fraud,
)
from fraudwatch.simulate.merchants import MerchantKind
from fraudwatch.simulate.purchases import (
    category_amount,
    global_country,
    place_at_atm,
    place_in_shop,
    place_online,
    set_amount,
    set_cash_amount,
    shop_entry_modes,
)
from fraudwatch.simulate.timeline import (
    CARD_TESTING,
    COMPROMISED_TERMINAL,
    STOLEN_CARD_SPREE,
    TxBatch,
)
from fraudwatch.simulate.world import DAY, World

Ints = npt.NDArray[np.int64]
Rng = np.random.Generator

_RESELLABLE_WEIGHTS = np.array([0.35, 0.2, 0.25, 0.2])  # electronics, jewellery, dept., clothing
_CASH_OUT = np.array([0.55, 0.3, 0.15])  # shop, online, ATM
_STOLEN_ENTRY = np.array([0.3, 0.3, 0.35, 0.05])  # chip, contactless, magstripe (cloned), manual
_SKIMMED_MCCS = ("5541", "5812", "5499", "5411")  # fuel pumps, restaurants, small shops


def card_testing(
    world: World, config: CardTesting, total: int, first: int, rng: Rng
) -> tuple[TxBatch, int]:
    """Bursts of 0.5-2 unit payments at small online merchants, seconds apart, on one card.

    From a fraudster's device, with an address abroad or behind a proxy in the victim's country;
    sometimes a bigger purchase follows once the card is known to work.
    """
    low, high = config.min_attempts, max(config.min_attempts, config.max_attempts)
    k = incident_count(config.rate, total, (low + high) / 2 + config.follow_up_probability)
    card = distinct(world.cards.customer.size, k, rng)
    customer = world.cards.customer[card]
    attempts = rng.integers(low, high + 1, size=k)
    follow = rng.random(k) < config.follow_up_probability
    incident, position = incident_rows(attempts + follow)
    n = incident.size
    batch = fraud_rows(CARD_TESTING, incident, first)
    batch.customer[:] = customer[incident]
    batch.card[:] = card[incident]
    gaps = rng.exponential(config.mean_gap_seconds, n)
    batch.time[:] = burst_times(start_times(world, k, 0, 3600, rng), incident, position, gaps)
    is_follow = position == attempts[incident]
    batch.time[is_follow] += rng.integers(300, 1800, size=int(is_follow.sum()))

    home = world.customers.country[customer]
    ip_country = np.where(rng.random(k) < 0.4, home, world.fraud_country(home, rng))
    batch.device[:] = world.fraud_devices(k, rng)[incident]
    batch.ip[:] = world.new_ips(ip_country, rng)[incident]
    batch.channel[:] = catalog.ECOMMERCE
    batch.entry_mode[:] = catalog.ECOM
    batch.three_ds[:] = three_ds_for_fraud(n, rng)

    tests = np.flatnonzero(~is_follow)
    country = global_country(k, rng)[incident[tests]]  # card testers favour shops in big markets
    category = np.array(catalog.CARD_TESTING)[rng.integers(0, len(catalog.CARD_TESTING), size=k)]
    place_online(world, batch, tests, country=country, category=category[incident[tests]], rng=rng)
    currency = world.currency_of(batch.merchant[tests])
    units = rng.uniform(config.min_amount, max(config.min_amount, config.max_amount), tests.size)
    minor = np.rint(units * 10.0 ** world.geo.currency_exponent[currency]).astype(np.int64)
    batch.currency[tests] = currency
    batch.amount[tests] = np.maximum(1, minor)

    buys = np.flatnonzero(is_follow)
    goods = np.array(catalog.RESELLABLE)[choose(_RESELLABLE_WEIGHTS, buys.size, rng)]
    country = global_country(buys.size, rng)
    place_online(world, batch, buys, country=country, category=goods, rng=rng)
    amount = category_amount(world, batch.customer[buys], goods, rng) * 1.5
    set_amount(world, batch, buys, amount, rng)
    reship = rng.random(buys.size) < 0.5
    batch.shipping[buys] = np.where(reship, home[incident[buys]], ip_country[incident[buys]])
    return _within(world, batch), first + k


def stolen_card_spree(
    world: World, config: StolenCardSpree, total: int, first: int, rng: Rng
) -> tuple[TxBatch, int]:
    """A stolen card used for resellable goods and cash over hours to days, away from home."""
    low, high = config.min_transactions, max(config.min_transactions, config.max_transactions)
    k = incident_count(config.rate, total, (low + high) / 2)
    card = distinct(world.cards.customer.size, k, rng)
    customer = world.cards.customer[card]
    incident, position = incident_rows(rng.integers(low, high + 1, size=k))
    n = incident.size
    batch = fraud_rows(STOLEN_CARD_SPREE, incident, first)
    batch.customer[:] = customer[incident]
    batch.card[:] = card[incident]
    gaps = rng.exponential(config.mean_gap_hours * 3600, n)
    batch.time[:] = burst_times(start_times(world, k, 0, DAY, rng), incident, position, gaps)
    people = world.customers
    foreign = rng.random(k) < config.foreign_probability
    city = away_city(world, people.city[customer], people.country[customer], foreign, rng)
    _cash_out(world, batch, city[incident], config.amount_multiplier, rng)
    return _within(world, batch), first + k


def compromised_terminal(
    world: World, config: CompromisedTerminal, total: int, first: int, rng: Rng
) -> tuple[TxBatch, int]:
    """Skimmers on a few terminals: many cards used there during weeks, fraud days later.

    Returns the skimmed (legitimate) payments at each terminal and the later counterfeit use of
    every skimmed card elsewhere; each victim card is its own incident.
    """
    per_card = (1 + config.max_fraud_per_card) / 2
    victims_mean = (config.min_victims + config.max_victims) / 2
    k = incident_count(config.rate, total, victims_mean * per_card)
    site = _skimmed_sites(world, k, rng)
    if site.size == 0:
        return TxBatch.empty(0), first
    # small simulations get fewer victims per terminal, so the rate still holds
    scale = min(1.0, config.rate * total / (site.size * victims_mean * per_card))
    low, high = config.min_victims, max(config.min_victims, config.max_victims)
    wanted = np.maximum(2, np.rint(rng.integers(low, high + 1, size=site.size) * scale))
    victim, terminal_of = _locals(world, world.merchants.city[site], wanted.astype(np.int64), rng)
    longest = max(config.min_window_days, config.max_window_days)
    span = (rng.uniform(config.min_window_days, longest, site.size) * DAY).astype(np.int64)
    opened = start_times(world, site.size, 0, 7 * DAY, rng)
    closed = np.maximum(opened + 1, np.minimum(opened + span, world.end - DAY))
    skims = _skims(
        world,
        victim,
        site[terminal_of],
        opened=opened[terminal_of],
        closed=closed[terminal_of],
        rng=rng,
    )

    counts = rng.integers(1, config.max_fraud_per_card + 1, size=victim.size)
    incident, position = incident_rows(counts)
    batch = fraud_rows(COMPROMISED_TERMINAL, incident, first)
    batch.customer[:] = victim[incident]
    batch.card[:] = skims.card[incident]
    median = np.log(config.median_delay_days * DAY)
    delay = np.maximum(2 * 3600, rng.lognormal(median, 0.7, victim.size)).astype(np.int64)
    gaps = rng.exponential(12 * 3600, incident.size)
    batch.time[:] = burst_times(skims.time + delay, incident, position, gaps)
    people = world.customers
    foreign = rng.random(victim.size) < 0.5
    city = away_city(world, people.city[victim], people.country[victim], foreign, rng)
    _cash_out(world, batch, city[incident], 1.5, rng)
    return TxBatch.concat([skims, _within(world, batch)]), first + victim.size


def _skimmed_sites(world: World, k: int, rng: Rng) -> Ints:
    """Terminals worth skimming (fuel pumps, restaurants, ATMs) where many customers live."""
    merchants = world.merchants
    mccs = [catalog.MCC_INDEX[m] for m in _SKIMMED_MCCS]
    shops = np.isin(merchants.mcc, mccs) & (merchants.kind == MerchantKind.PHYSICAL)
    candidates = shops | (merchants.kind == MerchantKind.ATM)
    residents = np.bincount(world.customers.city, minlength=world.geo.city_country.size)
    weight = np.where(candidates, residents[np.maximum(merchants.city, 0)], 0).astype(float)
    k = min(k, int(np.count_nonzero(weight)))
    result: Ints = rng.choice(weight.size, size=k, replace=False, p=weight / max(weight.sum(), 1))
    return result


def _locals(world: World, city: Ints, wanted: Ints, rng: Rng) -> tuple[Ints, Ints]:
    """Up to `wanted[i]` distinct residents of `city[i]`, and which site each one belongs to."""
    victims: list[Ints] = []
    sites: list[Ints] = []
    for i, (place, count) in enumerate(zip(city.tolist(), wanted.tolist(), strict=True)):
        residents = np.flatnonzero(world.customers.city == place)
        chosen = rng.choice(residents, size=min(count, residents.size), replace=False)
        victims.append(chosen.astype(np.int64))
        sites.append(np.full(chosen.size, i, dtype=np.int64))
    return np.concatenate(victims), np.concatenate(sites)


def _skims(
    world: World, victim: Ints, site: Ints, *, opened: Ints, closed: Ints, rng: Rng
) -> TxBatch:
    """The victims' ordinary payments at the compromised terminal (legitimate rows)."""
    merchants = world.merchants
    batch = TxBatch.empty(victim.size)
    batch.customer[:] = victim
    batch.card[:] = world.customer_card(victim, rng)
    batch.merchant[:] = site
    batch.terminal[:] = merchants.terminal_start[site]
    batch.time[:] = opened + (rng.random(victim.size) * (closed - opened)).astype(np.int64)
    atm = merchants.kind[site] == MerchantKind.ATM
    batch.channel[:] = np.where(atm, catalog.ATM, catalog.CARD_PRESENT)
    batch.entry_mode[:] = np.where(rng.random(victim.size) < 0.8, catalog.CHIP, catalog.MAGSTRIPE)
    shop = np.flatnonzero(~atm)
    amount = category_amount(world, victim[shop], merchants.mcc[site[shop]], rng)
    set_amount(world, batch, shop, amount, rng)
    cash = np.flatnonzero(atm)
    set_cash_amount(world, batch, cash, 100.0 * rng.lognormal(0.0, 0.5, cash.size))
    return batch


def _cash_out(world: World, batch: TxBatch, city: Ints, multiplier: float, rng: Rng) -> None:
    """Spend a stolen or cloned card in `city`: shops, ATMs, and online with a fraud device."""
    n = len(batch)
    channel = choose(_CASH_OUT, n, rng)
    goods = np.array(catalog.RESELLABLE)[choose(_RESELLABLE_WEIGHTS, n, rng)]
    noise = rng.lognormal(0.0, 0.3, n)
    amount = category_amount(world, batch.customer, goods, rng) * multiplier * noise

    shop = np.flatnonzero(channel == 0)
    place_in_shop(world, batch, shop, city=city[shop], category=goods[shop], regular=0.0, rng=rng)
    batch.channel[shop] = catalog.CARD_PRESENT
    batch.entry_mode[shop] = shop_entry_modes(amount[shop], _STOLEN_ENTRY, rng)
    set_amount(world, batch, shop, amount[shop], rng)

    online = np.flatnonzero(channel == 1)
    here = world.geo.city_country[city[online]]
    country = np.where(rng.random(online.size) < 0.5, here, global_country(online.size, rng))
    place_online(world, batch, online, country=country, category=goods[online], rng=rng)
    batch.channel[online] = catalog.ECOMMERCE
    batch.entry_mode[online] = catalog.ECOM
    batch.device[online] = world.fraud_devices(online.size, rng)
    batch.ip[online] = world.new_ips(here, rng)
    batch.three_ds[online] = three_ds_for_fraud(online.size, rng)
    batch.shipping[online] = here
    set_amount(world, batch, online, amount[online], rng)

    atm = np.flatnonzero(channel == 2)
    place_at_atm(world, batch, atm, city=city[atm], rng=rng)
    batch.channel[atm] = catalog.ATM
    batch.entry_mode[atm] = np.where(rng.random(atm.size) < 0.5, catalog.CHIP, catalog.MAGSTRIPE)
    set_cash_amount(world, batch, atm, 250.0 * rng.lognormal(0.0, 0.4, atm.size))


def _within(world: World, batch: TxBatch) -> TxBatch:
    """Drop rows that would fall after the simulated period."""
    return batch.take(batch.time < world.end)
