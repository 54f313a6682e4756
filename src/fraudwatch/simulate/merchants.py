"""Merchants, their terminals, ATMs and transfer payees, placed where the customers are.

Every city gets shops of every physical category (more where more customers live), every country
online merchants of every online category, ATMs, and (in the banks' countries) payee accounts for
transfers, a few of which are money mules. Mules look exactly like any other payee.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fraudwatch.simulate import catalog
from fraudwatch.simulate.buckets import Buckets, choose
from fraudwatch.simulate.columns import hex_strings, mix64
from fraudwatch.simulate.geo import CITIES, COUNTRIES, GeoTables
from fraudwatch.simulate.people import Customers

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Rng = np.random.Generator

MCC_CODES: tuple[str, ...] = (
    *(c.mcc for c in catalog.CATEGORIES),
    catalog.ATM_MCC,
    catalog.TRANSFER_MCC,
)
ATM_CODE = len(catalog.CATEGORIES)
TRANSFER_CODE = ATM_CODE + 1
_TERMINALS = np.array([0.5, 0.3, 0.15, 0.05])  # shops with 1, 2, 3, 4 terminals


class MerchantKind(IntEnum):
    PHYSICAL = 0
    ONLINE = 1
    ATM = 2
    PAYEE = 3
    MULE = 4


@dataclass(slots=True)
class Merchants:
    kind: Ints
    mcc: Ints  # index into MCC_CODES
    city: Ints  # shops and ATMs: where; online: head office; payees: -1
    country: Ints
    latitude: Floats  # NaN for payees
    longitude: Floats
    ids: pa.Array
    names: pa.Array  # null for payees
    terminal_start: Ints
    terminal_count: Ints
    terminal_ids: pa.Array
    physical: Buckets  # key: city * len(PHYSICAL) + physical position
    online: Buckets  # key: country * len(ONLINE) + online position
    atms: Buckets  # key: city
    payees: Buckets  # key: country
    mules: Buckets  # key: country

    @property
    def size(self) -> int:
        return int(self.kind.size)


@dataclass(slots=True)
class _Group:
    """Merchants of one kind before they are put together."""

    kind: Ints
    mcc: Ints
    city: Ints
    country: Ints


def physical_position(category: Ints) -> Ints:
    """Position of a category among physical categories (-1 if not sold in shops)."""
    table = np.full(len(MCC_CODES), -1, dtype=np.int64)
    table[list(catalog.PHYSICAL)] = np.arange(len(catalog.PHYSICAL))
    result: Ints = table[category]
    return result


def online_position(category: Ints) -> Ints:
    """Position of a category among online categories (-1 if not sold online)."""
    table = np.full(len(MCC_CODES), -1, dtype=np.int64)
    table[list(catalog.ONLINE)] = np.arange(len(catalog.ONLINE))
    result: Ints = table[category]
    return result


def build_merchants(customers: Customers, geo: GeoTables, seed: int, rng: Rng) -> Merchants:
    n = customers.size
    city_share = np.bincount(customers.city, minlength=len(CITIES)) / n + 0.002
    residents = np.bincount(customers.country, minlength=len(COUNTRIES))
    groups = [
        _shops(max(200, n / 5), city_share, geo),
        _online_shops(max(100, n / 25), residents / n + 0.01, geo),
        _atms(max(50, n / 60), city_share, geo),
        _payees(residents, rng),
    ]
    kind, mcc, city, country = (
        np.concatenate([getattr(g, f.name) for g in groups]) for f in fields(_Group)
    )
    placed = city >= 0
    jitter = rng.normal(0.0, 0.03, size=(kind.size, 2))
    latitude = np.where(placed, geo.city_latitude[np.maximum(city, 0)] + jitter[:, 0], np.nan)
    longitude = np.where(placed, geo.city_longitude[np.maximum(city, 0)] + jitter[:, 1], np.nan)
    terminals = np.where(kind == MerchantKind.PHYSICAL, choose(_TERMINALS, kind.size, rng) + 1, 0)
    terminals = np.where(kind == MerchantKind.ATM, rng.integers(1, 4, size=kind.size), terminals)
    everyone = np.arange(kind.size)
    payee = kind >= MerchantKind.PAYEE
    return Merchants(
        kind=kind,
        mcc=mcc,
        city=city,
        country=country,
        latitude=latitude,
        longitude=longitude,
        ids=pc.if_else(
            pa.array(payee),
            hex_strings("acc_", mix64(everyone, seed * 7 + 5), 12),
            hex_strings("mer_", mix64(everyone, seed * 7 + 4), 12),
        ),
        names=_names(kind, mcc, city, rng),
        terminal_start=np.cumsum(terminals) - terminals,
        terminal_count=terminals,
        terminal_ids=hex_strings("trm_", mix64(np.arange(terminals.sum()), seed * 7 + 6), 10),
        **_buckets(kind, mcc, city, country),
    )


def _spread(total: float, shares: Floats, weights: Floats) -> Ints:
    """Merchant counts per (place, category): proportional, at least one everywhere."""
    counts: Ints = np.maximum(1, np.rint(total * np.outer(shares, weights))).astype(np.int64)
    return counts


def _category_weights(categories: tuple[int, ...]) -> Floats:
    weights = np.array([catalog.CATEGORIES[i].weight for i in categories])
    result: Floats = weights / weights.sum()
    return result


def _shops(total: float, city_share: Floats, geo: GeoTables) -> _Group:
    counts = _spread(total, city_share, _category_weights(catalog.PHYSICAL))
    key = np.repeat(np.arange(counts.size), counts.ravel())
    city = key // len(catalog.PHYSICAL)
    mcc = np.array(catalog.PHYSICAL)[key % len(catalog.PHYSICAL)]
    return _Group(np.full(key.size, MerchantKind.PHYSICAL), mcc, city, geo.city_country[city])


def _online_shops(total: float, country_share: Floats, geo: GeoTables) -> _Group:
    """Online merchants of every category in every country, at a head office in its capital."""
    counts = _spread(total, country_share, _category_weights(catalog.ONLINE))
    key = np.repeat(np.arange(counts.size), counts.ravel())
    country = key // len(catalog.ONLINE)
    mcc = np.array(catalog.ONLINE)[key % len(catalog.ONLINE)]
    capital = np.array([int(geo.cities_in(c)[0]) for c in range(len(COUNTRIES))])
    return _Group(np.full(key.size, MerchantKind.ONLINE), mcc, capital[country], country)


def _atms(total: float, city_share: Floats, geo: GeoTables) -> _Group:
    city = np.repeat(np.arange(len(CITIES)), np.maximum(2, np.rint(total * city_share)).astype(int))
    return _Group(
        np.full(city.size, MerchantKind.ATM),
        np.full(city.size, ATM_CODE),
        city,
        geo.city_country[city],
    )


def _payees(residents: Ints, rng: Rng) -> _Group:
    """Accounts customers transfer money to, in the banks' countries; the last few are mules."""
    home = residents > 0
    country = np.repeat(
        np.arange(residents.size), np.where(home, np.maximum(30, residents // 4), 0)
    )
    mules = choose(np.where(home, residents, 0).astype(float), max(10, residents.sum() // 400), rng)
    kind = np.repeat([MerchantKind.PAYEE, MerchantKind.MULE], [country.size, mules.size])
    size = kind.size
    return _Group(
        kind, np.full(size, TRANSFER_CODE), np.full(size, -1), np.concatenate([country, mules])
    )


def _buckets(kind: Ints, mcc: Ints, city: Ints, country: Ints) -> dict[str, Buckets]:
    """The lookups purchases use: shops by (city, category), online by (country, category) ..."""
    n_cities, n_countries = len(CITIES), len(COUNTRIES)
    n_physical, n_online = len(catalog.PHYSICAL), len(catalog.ONLINE)
    shop_key = np.maximum(city, 0) * n_physical + np.maximum(physical_position(mcc), 0)
    online_key = country * n_online + np.maximum(online_position(mcc), 0)
    return {
        "physical": Buckets.group(shop_key, n_cities * n_physical, kind == MerchantKind.PHYSICAL),
        "online": Buckets.group(online_key, n_countries * n_online, kind == MerchantKind.ONLINE),
        "atms": Buckets.group(np.maximum(city, 0), n_cities, kind == MerchantKind.ATM),
        "payees": Buckets.group(country, n_countries, kind == MerchantKind.PAYEE),
        "mules": Buckets.group(country, n_countries, kind == MerchantKind.MULE),
    }


def _names(kind: Ints, mcc: Ints, city: Ints, rng: Rng) -> pa.Array:
    """`<stem> <category word>` ("Linden Kitchen"), "... Online" for web shops, ATM operators."""
    stems = rng.integers(0, len(catalog.MERCHANT_STEMS), size=kind.size).tolist()
    words = rng.integers(0, 1 << 20, size=kind.size).tolist()
    names: list[str | None] = []
    rows = zip(kind.tolist(), mcc.tolist(), city.tolist(), strict=True)
    for i, (k, code, place) in enumerate(rows):
        if k >= MerchantKind.PAYEE:
            names.append(None)
        elif k == MerchantKind.ATM:
            operator = catalog.ATM_OPERATORS[words[i] % len(catalog.ATM_OPERATORS)]
            names.append(f"{operator} {CITIES[place].name}")
        else:
            category = catalog.CATEGORIES[code]
            word = category.words[words[i] % len(category.words)]
            suffix = " Online" if k == MerchantKind.ONLINE else ""
            names.append(f"{catalog.MERCHANT_STEMS[stems[i]]} {word}{suffix}")
    return pa.array(names, type=pa.string())
