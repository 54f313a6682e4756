"""Merchants, their terminals, ATMs and transfer payees, placed where the customers are.

Every city gets shops of every physical category (more where more customers live), every country
online merchants of every online category, ATMs, and (in the banks' countries) payee accounts for
transfers, a few of which are money mules. Mules look exactly like any other payee.
"""

from __future__ import annotations

from dataclasses import dataclass
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

MCC_CODES: tuple[str, ...] = (
    *(c.mcc for c in catalog.CATEGORIES),
    catalog.ATM_MCC,
    catalog.TRANSFER_MCC,
)
ATM_CODE = len(catalog.CATEGORIES)
TRANSFER_CODE = ATM_CODE + 1


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
    city: Ints  # -1 for payees
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


def _spread(total: float, shares: Floats, weights: Floats) -> Ints:
    """Merchant counts per (place, category): proportional, at least one everywhere."""
    counts: Ints = np.maximum(1, np.rint(total * np.outer(shares, weights))).astype(np.int64)
    return counts


def build_merchants(
    customers: Customers, geo: GeoTables, seed: int, rng: np.random.Generator
) -> Merchants:
    n = customers.size
    n_cities, n_countries = len(CITIES), len(COUNTRIES)
    city_share = np.bincount(customers.city, minlength=n_cities) / n + 0.002
    country_share = np.bincount(customers.country, minlength=n_countries) / n + 0.01
    phys_w = np.array([catalog.CATEGORIES[i].weight for i in catalog.PHYSICAL])
    online_w = np.array([catalog.CATEGORIES[i].weight for i in catalog.ONLINE])
    phys_counts = _spread(max(200, n / 5), city_share, phys_w / phys_w.sum())
    online_counts = _spread(max(100, n / 25), country_share, online_w / online_w.sum())
    atm_counts = np.maximum(2, np.rint(max(50, n / 60) * city_share)).astype(np.int64)
    home = np.bincount(customers.country, minlength=n_countries) > 0
    payee_counts = np.where(
        home, np.maximum(30, np.bincount(customers.country, minlength=n_countries) // 4), 0
    )
    n_mules = max(10, n // 400)

    phys_key = np.repeat(np.arange(phys_counts.size), phys_counts.ravel())
    online_key = np.repeat(np.arange(online_counts.size), online_counts.ravel())
    atm_city = np.repeat(np.arange(n_cities), atm_counts)
    payee_country = np.repeat(np.arange(n_countries), payee_counts)
    mule_country = choose(np.where(home, country_share, 0.0), n_mules, rng)
    phys_city = phys_key // len(catalog.PHYSICAL)
    online_country = online_key // len(catalog.ONLINE)
    city = np.concatenate(
        [
            phys_city,
            np.full(online_key.size, -1),
            atm_city,
            np.full(payee_country.size + n_mules, -1),
        ]
    )
    country_of_city = geo.city_country
    # online merchants are located at a head-office city of their country
    hq = np.array([int(geo.cities_in(c)[0]) for c in range(n_countries)])
    located = np.where(city >= 0, city, -1)
    located[phys_key.size : phys_key.size + online_key.size] = hq[online_country]
    kind = np.concatenate(
        [
            np.full(phys_key.size, MerchantKind.PHYSICAL),
            np.full(online_key.size, MerchantKind.ONLINE),
            np.full(atm_city.size, MerchantKind.ATM),
            np.full(payee_country.size, MerchantKind.PAYEE),
            np.full(n_mules, MerchantKind.MULE),
        ]
    ).astype(np.int64)
    phys_cat = np.array(catalog.PHYSICAL)[phys_key % len(catalog.PHYSICAL)]
    online_cat = np.array(catalog.ONLINE)[online_key % len(catalog.ONLINE)]
    mcc = np.concatenate(
        [
            phys_cat,
            online_cat,
            np.full(atm_city.size, ATM_CODE),
            np.full(payee_country.size + n_mules, TRANSFER_CODE),
        ]
    ).astype(np.int64)
    country = np.concatenate(
        [
            country_of_city[phys_city],
            online_country,
            country_of_city[atm_city],
            payee_country,
            mule_country,
        ]
    ).astype(np.int64)
    has_place = located >= 0
    jitter = rng.normal(0.0, 0.03, size=(kind.size, 2))
    safe = np.maximum(located, 0)
    latitude = np.where(has_place, geo.city_latitude[safe] + jitter[:, 0], np.nan)
    longitude = np.where(has_place, geo.city_longitude[safe] + jitter[:, 1], np.nan)

    terminals = np.where(
        kind == MerchantKind.PHYSICAL,
        choose(np.array([0.5, 0.3, 0.15, 0.05]), kind.size, rng) + 1,
        np.where(kind == MerchantKind.ATM, rng.integers(1, 4, size=kind.size), 0),
    )
    terminal_start = np.concatenate(([0], np.cumsum(terminals)[:-1])).astype(np.int64)
    n_terminals = int(terminals.sum())
    is_payee = (kind == MerchantKind.PAYEE) | (kind == MerchantKind.MULE)
    everyone = np.arange(kind.size)
    ids = pc.if_else(
        pa.array(is_payee),
        hex_strings("acc_", mix64(everyone, seed * 7 + 5), 12),
        hex_strings("mer_", mix64(everyone, seed * 7 + 4), 12),
    )
    n_places = len(catalog.PHYSICAL)
    return Merchants(
        kind=kind,
        mcc=mcc,
        city=located,
        country=country,
        latitude=latitude,
        longitude=longitude,
        ids=ids,
        names=_names(kind, mcc, located, rng),
        terminal_start=terminal_start,
        terminal_count=terminals.astype(np.int64),
        terminal_ids=hex_strings("trm_", mix64(np.arange(n_terminals), seed * 7 + 6), 10),
        physical=Buckets.group(
            np.where(kind == MerchantKind.PHYSICAL, located * n_places + _position(mcc, "P"), 0),
            n_cities * n_places,
            kind == MerchantKind.PHYSICAL,
        ),
        online=Buckets.group(
            np.where(
                kind == MerchantKind.ONLINE, country * len(catalog.ONLINE) + _position(mcc, "O"), 0
            ),
            n_countries * len(catalog.ONLINE),
            kind == MerchantKind.ONLINE,
        ),
        atms=Buckets.group(np.maximum(located, 0), n_cities, kind == MerchantKind.ATM),
        payees=Buckets.group(country, n_countries, kind == MerchantKind.PAYEE),
        mules=Buckets.group(country, n_countries, kind == MerchantKind.MULE),
    )


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


def _position(mcc: Ints, which: str) -> Ints:
    return np.maximum(physical_position(mcc) if which == "P" else online_position(mcc), 0)


def _names(kind: Ints, mcc: Ints, city: Ints, rng: np.random.Generator) -> pa.Array:
    stems = rng.integers(0, len(catalog.MERCHANT_STEMS), size=kind.size).tolist()
    words = rng.integers(0, 1 << 20, size=kind.size).tolist()
    names: list[str | None] = []
    for i, (k, code, place) in enumerate(
        zip(kind.tolist(), mcc.tolist(), city.tolist(), strict=True)
    ):
        if k in (MerchantKind.PAYEE, MerchantKind.MULE):
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
