"""Placing a payment: which shop, ATM or online merchant, which terminal, what amount.

Shared by legitimate traffic and the fraud scenarios, so a fraudulent purchase is made of the same
merchants, terminals and price patterns as a genuine one; only who, where and when differ.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudwatch.simulate import catalog
from fraudwatch.simulate.buckets import choose
from fraudwatch.simulate.geo import COUNTRY_INDEX
from fraudwatch.simulate.merchants import MerchantKind, online_position, physical_position
from fraudwatch.simulate.timeline import TxBatch
from fraudwatch.simulate.world import World

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Rng = np.random.Generator

CONTACTLESS_LIMIT_EUR = 50.0
# where cross-border online shopping goes
_GLOBAL_SHOPS = {"US": 0.35, "GB": 0.2, "IE": 0.1, "NL": 0.1, "CN": 0.15, "DE": 0.1}
_CATEGORY_MEDIAN = np.array([c.median_eur for c in catalog.CATEGORIES])
_CATEGORY_SIGMA = np.array([c.sigma for c in catalog.CATEGORIES])


def category_amount(world: World, customer: Ints, category: Ints, rng: Rng) -> Floats:
    """EUR-equivalent amount: category median x customer's spend level x lognormal noise."""
    noise = rng.lognormal(0.0, _CATEGORY_SIGMA[category])
    result: Floats = _CATEGORY_MEDIAN[category] * world.customers.spend[customer] * noise
    return result


def place_in_shop(
    world: World,
    batch: TxBatch,
    rows: Ints,
    *,
    city: Ints,
    category: Ints,
    regular: float,
    rng: Rng,
) -> None:
    """A shop of `category` in `city` (the customer's regular one with probability `regular`)."""
    buckets = world.merchants.physical
    key = city * len(catalog.PHYSICAL) + physical_position(category)
    usual = buckets.pick_stable(key, batch.customer[rows])
    anyone = buckets.pick(key, rng.random(rows.size))
    merchant = np.where(rng.random(rows.size) < regular, usual, anyone)
    batch.merchant[rows] = merchant
    batch.terminal[rows] = _terminal(world, merchant, rng)


def place_at_atm(world: World, batch: TxBatch, rows: Ints, *, city: Ints, rng: Rng) -> None:
    merchant = world.merchants.atms.pick(city, rng.random(rows.size))
    batch.merchant[rows] = merchant
    batch.terminal[rows] = _terminal(world, merchant, rng)


def place_online(
    world: World, batch: TxBatch, rows: Ints, *, country: Ints, category: Ints, rng: Rng
) -> None:
    """An online merchant of `category` based in `country`, often one the customer used before."""
    buckets = world.merchants.online
    key = country * len(catalog.ONLINE) + online_position(category)
    usual = buckets.pick_stable(key, batch.customer[rows])
    anyone = buckets.pick(key, rng.random(rows.size))
    batch.merchant[rows] = np.where(rng.random(rows.size) < 0.5, usual, anyone)


def set_amount(world: World, batch: TxBatch, rows: Ints, amount_eur: Floats, rng: Rng) -> None:
    """Convert to the merchant's currency; online prices often end in .99."""
    currency = world.currency_of(batch.merchant[rows])
    minor = world.to_minor(amount_eur, currency)
    cents = world.geo.currency_exponent[currency] == 2
    online = world.merchants.kind[batch.merchant[rows]] == MerchantKind.ONLINE
    charm = cents & online & (rng.random(rows.size) < 0.4) & (minor >= 100)
    batch.currency[rows] = currency
    batch.amount[rows] = np.where(charm, minor // 100 * 100 + 99, minor)


def set_cash_amount(world: World, batch: TxBatch, rows: Ints, amount_eur: Floats) -> None:
    """ATM withdrawals come in round local amounts (multiples of 10 EUR, 1,000 JPY ...)."""
    currency = world.currency_of(batch.merchant[rows])
    rate = world.geo.currency_rate[currency]
    exponent = world.geo.currency_exponent[currency]
    unit = 10.0 ** np.floor(np.log10(20.0 * rate))
    notes = np.maximum(1, np.rint(amount_eur * rate / unit))
    batch.currency[rows] = currency
    batch.amount[rows] = (notes * unit * 10.0**exponent).astype(np.int64)


def shop_entry_modes(amount_eur: Floats, weights: Floats, rng: Rng) -> Ints:
    """Chip / contactless / magstripe / manual by weight; contactless only below the limit."""
    mode = choose(weights, amount_eur.size, rng)
    over_limit = (mode == catalog.CONTACTLESS) & (amount_eur > CONTACTLESS_LIMIT_EUR)
    result: Ints = np.where(over_limit, catalog.CHIP, mode)
    return result


def global_country(size: int, rng: Rng) -> Ints:
    """A country of the big cross-border online shops."""
    codes = np.array([COUNTRY_INDEX[c] for c in _GLOBAL_SHOPS])
    result: Ints = codes[choose(np.array(list(_GLOBAL_SHOPS.values())), size, rng)]
    return result


def _terminal(world: World, merchant: Ints, rng: Rng) -> Ints:
    merchants = world.merchants
    count = merchants.terminal_count[merchant]
    slot = (rng.random(merchant.size) * count).astype(np.int64)
    result: Ints = np.where(count > 0, merchants.terminal_start[merchant] + slot, -1)
    return result
