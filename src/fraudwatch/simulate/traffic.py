"""Legitimate traffic: who pays, when, where, how much, with which card, device and address.

Each customer pays at a rate set by their activity level, on days weighted by a weekly rhythm, at
local hours drawn from a per-channel daily profile shifted by their chronotype. Shops are in the
city where the customer is that day (home, or a trip destination), usually their regular shop of
that kind. The noise that keeps fraud from being trivially separable lives here too: trips abroad,
cross-border online shopping, new phones, cafe wifi, and the occasional big-ticket purchase.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudwatch.simulate import catalog
from fraudwatch.simulate.buckets import choose, choose_rows
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
from fraudwatch.simulate.rhythm import local_seconds
from fraudwatch.simulate.timeline import TxBatch
from fraudwatch.simulate.world import World

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Rng = np.random.Generator

# categories shipped as goods (the others are services or digital)
_GOODS = np.isin(
    np.arange(len(catalog.CATEGORIES)),
    [catalog.MCC_INDEX[m] for m in ("5411", "5311", "5651", "5732", "5944", "5942", "5999")],
)
_LEGIT_ENTRY = np.array([0.42, 0.52, 0.03, 0.03])  # chip, contactless, magstripe, manual
_LEGIT_THREE_DS = np.array([0.5, 0.38, 0.12])  # authenticated, frictionless, not enrolled


def legit_transactions(world: World, n: int, rng: Rng) -> TxBatch:
    """`n` legitimate transactions (not yet in time order)."""
    people = world.customers
    batch = TxBatch.empty(n)
    customer = choose(people.activity, n, rng)
    batch.customer[:] = customer
    batch.card[:] = world.customer_card(customer, rng)
    day = choose(world.day_weights(), n, rng)
    channel = choose_rows(people.channel_cum, customer, rng.random(n))
    batch.channel[:] = channel
    away = (people.trip_start[customer] <= day) & (day < people.trip_end[customer])
    city = np.where(away, people.trip_city[customer], people.city[customer])
    in_app = (channel == catalog.WALLET) & (rng.random(n) < 0.25)
    shop = (channel == catalog.CARD_PRESENT) | ((channel == catalog.WALLET) & ~in_app)
    online = (channel == catalog.ECOMMERCE) | in_app

    amount = np.zeros(n)
    amount[shop] = _shop_payments(world, batch, np.flatnonzero(shop), city, rng)
    amount[online] = _online_payments(world, batch, np.flatnonzero(online), in_app, rng)
    cash = channel == catalog.ATM
    amount[cash] = _withdrawals(world, batch, np.flatnonzero(cash), city, rng)
    transfer = channel == catalog.TRANSFER
    amount[transfer] = _transfers(world, batch, np.flatnonzero(transfer), rng)
    big = (shop | online) & (rng.random(n) < world.config.behaviour.big_ticket_rate)
    amount[big] *= rng.uniform(4.0, 15.0, size=int(big.sum()))
    set_amount(world, batch, np.flatnonzero(~cash), amount[~cash], rng)
    set_cash_amount(world, batch, np.flatnonzero(cash), amount[cash])

    digital = online | transfer | (channel == catalog.WALLET)
    _devices_and_ips(world, batch, np.flatnonzero(digital), away=away, city=city, rng=rng)
    seconds = local_seconds(channel, people.chronotype[customer], rng)
    time = world.local_to_utc(day, seconds, city)
    batch.time[:] = world.start + (time - world.start) % (world.end - world.start)
    return batch


def _shop_payments(world: World, batch: TxBatch, rows: Ints, city: Ints, rng: Rng) -> Floats:
    """Card or phone payments in shops of the customer's preferred kinds, where they are."""
    customer = batch.customer[rows]
    pick = choose_rows(world.customers.physical_cum, customer, rng.random(rows.size))
    category = np.array(catalog.PHYSICAL)[pick]
    place_in_shop(world, batch, rows, city=city[rows], category=category, regular=0.6, rng=rng)
    amount = category_amount(world, customer, category, rng)
    mode = shop_entry_modes(amount, _LEGIT_ENTRY, rng)
    wallet = batch.channel[rows] == catalog.WALLET
    batch.entry_mode[rows] = np.where(wallet, catalog.WALLET_NFC, mode)
    return amount


def _online_payments(world: World, batch: TxBatch, rows: Ints, in_app: Bools, rng: Rng) -> Floats:
    """Online purchases, a quarter of them from shops abroad; goods are shipped home."""
    people = world.customers
    customer = batch.customer[rows]
    pick = choose_rows(people.online_cum, customer, rng.random(rows.size))
    category = np.array(catalog.ONLINE)[pick]
    home = people.country[customer]
    abroad = rng.random(rows.size) < 0.25
    country = np.where(abroad, global_country(rows.size, rng), home)
    place_online(world, batch, rows, country=country, category=category, rng=rng)
    batch.entry_mode[rows] = np.where(in_app[rows], catalog.WALLET_INAPP, catalog.ECOM)
    batch.three_ds[rows] = choose(_LEGIT_THREE_DS, rows.size, rng)
    gift = np.where(
        rng.random(rows.size) < 0.04, choose(world.geo.country_travel, rows.size, rng), home
    )
    batch.shipping[rows] = np.where(_GOODS[category], gift, -1)
    return category_amount(world, customer, category, rng)


def _withdrawals(world: World, batch: TxBatch, rows: Ints, city: Ints, rng: Rng) -> Floats:
    place_at_atm(world, batch, rows, city=city[rows], rng=rng)
    batch.entry_mode[rows] = np.where(rng.random(rows.size) < 0.97, catalog.CHIP, catalog.MAGSTRIPE)
    spend = world.customers.spend[batch.customer[rows]]
    result: Floats = 100.0 * np.sqrt(spend) * rng.lognormal(0.0, 0.6, rows.size)
    return result


def _transfers(world: World, batch: TxBatch, rows: Ints, rng: Rng) -> Floats:
    """Transfers go to one of a few regular payees, sometimes to a new one."""
    customer = batch.customer[rows]
    home = world.customers.country[customer]
    payees = world.merchants.payees
    regular = payees.pick_stable(home, customer * 4 + rng.integers(0, 4, size=rows.size))
    anyone = payees.pick(home, rng.random(rows.size))
    batch.merchant[rows] = np.where(rng.random(rows.size) < 0.88, regular, anyone)
    batch.entry_mode[rows] = catalog.ONLINE_BANKING
    spend = world.customers.spend[customer]
    result: Floats = 150.0 * spend * rng.lognormal(0.0, 1.0, rows.size)
    return result


def _devices_and_ips(
    world: World, batch: TxBatch, rows: Ints, *, away: Bools, city: Ints, rng: Rng
) -> None:
    """Usual device and address mostly; sometimes a new phone, a cafe's wifi, a hotel abroad.

    A tap-to-pay phone payment carries the device but no IP address.
    """
    behaviour = world.config.behaviour
    customer = batch.customer[rows]
    tap = batch.entry_mode[rows] == catalog.WALLET_NFC
    device = np.where(
        tap, world.customers.devices[customer, 0], world.customer_device(customer, rng)
    )
    fresh = (rng.random(rows.size) < behaviour.new_device_rate) & ~tap
    batch.device[rows] = np.where(fresh, world.spare_devices(rows.size, rng), device)
    usual = world.customer_ip(customer, rng)
    home_new = world.new_ips(world.customers.country[customer], rng)
    local = world.new_ips(world.geo.city_country[city[rows]], rng)
    roaming = rng.random(rows.size) < 0.5  # mobile data abroad still exits at home
    ip = np.where(rng.random(rows.size) < behaviour.new_ip_rate, home_new, usual)
    ip = np.where(away[rows] & ~roaming, local, ip)
    batch.ip[rows] = np.where(tap, 0, ip)
