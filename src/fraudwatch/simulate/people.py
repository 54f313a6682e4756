"""Customers and what they own: cards (Luhn-valid PANs on their bank's BINs), devices, usual IPs.

Each customer gets a home city, a spending level, an activity level, a chronotype, channel and
category preferences, perhaps one trip during the period, and regular payees for transfers.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fraudwatch.simulate import catalog
from fraudwatch.simulate.buckets import choose, cumulative
from fraudwatch.simulate.columns import digit_strings, hex_strings, luhn_numbers, mix64
from fraudwatch.simulate.config import SimulationConfig
from fraudwatch.simulate.geo import COUNTRIES, COUNTRY_INDEX, GeoTables

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

# share of each channel for an average customer, per institution (JP: more cash, US: more online)
_CHANNEL_BASE = {
    "nordbank-eu": (0.52, 0.22, 0.06, 0.07, 0.13),
    "albion-bank-uk": (0.48, 0.26, 0.04, 0.07, 0.15),
    "liberty-pay-us": (0.46, 0.30, 0.04, 0.05, 0.15),
    "sakura-card-jp": (0.58, 0.20, 0.10, 0.05, 0.07),
}


@dataclass(slots=True)
class Customers:
    bank: Ints
    country: Ints
    city: Ints
    latitude: Floats
    longitude: Floats
    spend: Floats  # multiplier of category medians (lognormal, median 1)
    activity: Floats  # relative transaction rate
    chronotype: Ints  # shift of the daily rhythm, hours
    channel_cum: Floats  # (customers, channels) cumulative preferences
    physical_cum: Floats  # (customers, physical categories)
    online_cum: Floats  # (customers, online categories)
    ips: Ints  # (customers, 2): home broadband and mobile carrier address
    devices: Ints  # (customers, 3), -1 padded; device 0 is a phone
    n_devices: Ints
    cards: Ints  # (customers, 3), -1 padded
    n_cards: Ints
    trip_city: Ints  # -1: stays home all period
    trip_start: Ints  # day index
    trip_end: Ints
    age_band: Ints  # index into catalog.AGE_BANDS
    segment: Ints  # index into catalog.SEGMENTS
    ids: pa.Array
    accounts: pa.Array
    names: pa.Array
    emails: pa.Array
    phones: pa.Array

    @property
    def size(self) -> int:
        return int(self.bank.size)


@dataclass(slots=True)
class Cards:
    customer: Ints
    pans: pa.Array


@dataclass(slots=True)
class Devices:
    """Every device: customers' own, a pool of new legitimate ones, and fraudsters' (reused)."""

    owner: Ints  # -1 for pool devices
    profile: Ints
    ids: pa.Array
    fingerprints: pa.Array
    spare_start: int
    fraud_start: int

    @property
    def size(self) -> int:
        return int(self.owner.size)


def build_customers(
    config: SimulationConfig, geo: GeoTables, rng: np.random.Generator
) -> Customers:
    n = config.customer_count()
    banks = catalog.INSTITUTIONS
    bank = choose(np.array([b.share for b in banks]), n, rng)
    country = np.empty(n, dtype=np.int64)
    city = np.empty(n, dtype=np.int64)
    for b, institution in enumerate(banks):
        rows = np.flatnonzero(bank == b)
        codes = [COUNTRY_INDEX[c] for c, _ in institution.countries]
        weights = np.array([w for _, w in institution.countries])
        country[rows] = np.array(codes)[choose(weights, rows.size, rng)]
    for c in np.unique(country):
        rows = np.flatnonzero(country == c)
        cities = geo.cities_in(int(c))
        city[rows] = cities[choose(geo.city_population[cities], rows.size, rng)]
    jitter = rng.normal(0.0, 0.05, size=(n, 2))
    channel_base = np.array([_CHANNEL_BASE[b.source] for b in banks])[bank]
    phys_w = np.array([catalog.CATEGORIES[i].weight for i in catalog.PHYSICAL])
    online_w = np.array([catalog.CATEGORIES[i].weight for i in catalog.ONLINE])
    n_cards = choose(np.array([0.55, 0.33, 0.12]), n, rng) + 1
    n_devices = choose(np.array([0.45, 0.4, 0.15]), n, rng) + 1
    trip_start, trip_end, trip_city = _trips(config, geo, country, rng)
    spend = rng.lognormal(0.0, 0.45, size=n)
    age_band, segment = _profile(config, spend)
    return Customers(
        bank=bank,
        country=country,
        city=city,
        latitude=geo.city_latitude[city] + jitter[:, 0],
        longitude=geo.city_longitude[city] + jitter[:, 1],
        spend=spend,
        activity=rng.lognormal(0.0, 0.6, size=n),
        chronotype=np.clip(np.rint(rng.normal(0.0, 1.2, size=n)), -3, 3).astype(np.int64),
        channel_cum=cumulative(_preferences(channel_base * 25.0, rng)),
        physical_cum=cumulative(_preferences(np.tile(phys_w * 12.0, (n, 1)), rng)),
        online_cum=cumulative(_preferences(np.tile(online_w * 12.0, (n, 1)), rng)),
        ips=np.stack([geo.random_ips(country, rng), geo.random_ips(country, rng)], axis=1),
        devices=np.full((n, 3), -1, dtype=np.int64),
        n_devices=n_devices,
        cards=np.full((n, 3), -1, dtype=np.int64),
        n_cards=n_cards,
        trip_city=trip_city,
        trip_start=trip_start,
        trip_end=trip_end,
        age_band=age_band,
        segment=segment,
        ids=hex_strings("cus_", mix64(np.arange(n), config.seed * 7 + 1), 12),
        accounts=hex_strings("acc_", mix64(np.arange(n), config.seed * 7 + 2), 12),
        **_identities(country, rng),
    )


def _profile(config: SimulationConfig, spend: Floats) -> tuple[Ints, Ints]:
    """Age band and segment of each customer. Drawn from a hash of the customer's number, not
    from the shared generator, so adding them changed no other value of a seeded stream.
    Segment follows spending: the top 3 % spenders are private, the next 17 % affluent, and
    8 % of the rest small businesses."""
    n = spend.size
    uniform, other = (_uniform(n, config.seed * 7 + key) for key in (3, 4))
    shares = np.array([share for _, share in catalog.AGE_BANDS])
    age_band = np.searchsorted(np.cumsum(shares) / shares.sum(), uniform, side="right")
    rank = np.argsort(np.argsort(-spend, kind="stable"), kind="stable") / max(n, 1)
    business = other < 0.08
    segment = np.where(rank < 0.03, 3, np.where(rank < 0.20, 2, np.where(business, 1, 0)))
    return np.minimum(age_band, len(shares) - 1).astype(np.int64), segment.astype(np.int64)


def _uniform(n: int, key: int) -> Floats:
    """n values in [0, 1) from a keyed hash of 0..n-1."""
    bits = mix64(np.arange(n), key) >> np.uint64(11)
    out: Floats = bits.astype(np.float64) / float(1 << 53)
    return out


def _preferences(alpha: Floats, rng: np.random.Generator) -> Floats:
    """Per-row Dirichlet draws around `alpha`, unnormalised (gamma trick; `cumulative` scales)."""
    draws: Floats = rng.gamma(np.maximum(alpha, 1e-3))
    return draws


def _owned(counts: Ints) -> tuple[Ints, Ints]:
    """For `counts[i]` items owned by customer i: each item's owner and slot (0, 1, ...)."""
    owner = np.repeat(np.arange(counts.size), counts)
    slot = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, slot


def _trips(
    config: SimulationConfig, geo: GeoTables, country: Ints, rng: np.random.Generator
) -> tuple[Ints, Ints, Ints]:
    """At most one trip per customer: domestic, to a neighbour, or to a holiday destination."""
    n = country.size
    travels = rng.random(n) < config.behaviour.travel_probability
    length = rng.integers(2, 11, size=n)
    start = rng.integers(0, max(1, config.days - 1), size=n)
    domestic = rng.random(n) < 0.35
    destination_country = choose(geo.country_travel, n, rng)
    destination_country = np.where(domestic, country, destination_country)
    trip_city = np.full(n, -1, dtype=np.int64)
    for c in np.unique(destination_country[travels]):
        rows = np.flatnonzero(travels & (destination_country == c))
        cities = geo.cities_in(int(c))
        trip_city[rows] = cities[choose(np.sqrt(geo.city_population[cities]), rows.size, rng)]
    trip_city = np.where(travels, trip_city, -1)
    return (
        np.where(travels, start, -1),
        np.where(travels, np.minimum(start + length, config.days), -1),
        trip_city,
    )


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded.replace(" ", "").lower()


def _identities(country: Ints, rng: np.random.Generator) -> dict[str, pa.Array]:
    """Names, e-mail addresses and phone numbers in the customer's language and country."""
    n = country.size
    first_pick = rng.integers(0, 1 << 30, size=n)
    last_pick = rng.integers(0, 1 << 30, size=n)
    number = rng.integers(1, 100, size=n)
    domain = rng.integers(0, len(catalog.EMAIL_DOMAINS), size=n)
    phone = rng.integers(1_000_000_000, 9_999_999_999, size=n)
    names: list[str] = []
    emails: list[str] = []
    phones: list[str] = []
    for i, c in enumerate(country.tolist()):
        code = COUNTRIES[c]
        firsts, lasts = catalog.NAMES[catalog.NAME_GROUP.get(code.code, "en")]
        first = firsts[first_pick[i] % len(firsts)]
        last = lasts[last_pick[i] % len(lasts)]
        names.append(f"{first} {last}")
        emails.append(
            f"{_ascii(first)}.{_ascii(last)}{number[i]}@{catalog.EMAIL_DOMAINS[domain[i]]}"
        )
        phones.append(f"{code.phone_prefix}{phone[i]}")
    return {"names": pa.array(names), "emails": pa.array(emails), "phones": pa.array(phones)}


def issue_cards(customers: Customers, rng: np.random.Generator) -> Cards:
    """1-3 cards per customer on the customer's bank's BINs; fills `customers.cards`."""
    owner, slot = _owned(customers.n_cards)
    customers.cards[owner, slot] = np.arange(owner.size)
    bank = customers.bank[owner]
    # numbers are made per (bank, BIN) group, then put back in card order
    pans: list[pa.Array] = []
    order: list[Ints] = []
    for b, institution in enumerate(catalog.INSTITUTIONS):
        rows = np.flatnonzero(bank == b)
        bin_pick = rng.integers(0, len(institution.bins), size=rows.size)
        for k, (prefix, length) in enumerate(institution.bins):
            chosen = rows[bin_pick == k]
            body = np.empty((chosen.size, length - 1), dtype=np.uint8)
            body[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8) - 48
            body[:, len(prefix) :] = rng.integers(
                0, 10, size=(chosen.size, length - 1 - len(prefix))
            )
            pans.append(digit_strings(luhn_numbers(body)))
            order.append(chosen)
    positions = np.concatenate(order) if order else np.empty(0, dtype=np.int64)
    inverse = np.empty_like(positions)
    inverse[positions] = np.arange(positions.size)
    table = (
        pa.concat_arrays([p.cast(pa.string()) for p in pans]) if pans else pa.array([], pa.string())
    )
    return Cards(customer=owner, pans=table.take(pa.array(inverse)))


def issue_devices(
    customers: Customers, seed: int, spare: int, fraud: int, rng: np.random.Generator
) -> Devices:
    """Customers' devices (the first a phone), then `spare` new legit ones, then `fraud` ones."""
    profiles = catalog.DEVICE_PROFILES
    own_owner, slot = _owned(customers.n_devices)
    customers.devices[own_owner, slot] = np.arange(own_owner.size)
    weights = np.array([p.weight for p in profiles])
    phone_weights = np.where(np.array([p.type == "mobile" for p in profiles]), weights, 0.0)
    own_profile = np.where(
        slot == 0,
        choose(phone_weights, own_owner.size, rng),
        choose(weights, own_owner.size, rng),
    )
    profile = np.concatenate(
        [
            own_profile,
            choose(weights, spare, rng),
            choose(np.array([p.fraud_weight for p in profiles]), fraud, rng),
        ]
    )
    total = profile.size
    raw = rng.integers(0, np.iinfo(np.int64).max, size=(total, 2), dtype=np.int64)
    fingerprint_hi = hex_strings("", raw[:, 0].astype(np.uint64))
    fingerprint_lo = hex_strings("", raw[:, 1].astype(np.uint64))
    return Devices(
        owner=np.concatenate([own_owner, np.full(spare + fraud, -1, dtype=np.int64)]),
        profile=profile,
        ids=hex_strings("dev_", mix64(np.arange(total), seed * 7 + 3)),
        fingerprints=pc.binary_join_element_wise(fingerprint_hi, fingerprint_lo, ""),
        spare_start=int(own_owner.size),
        fraud_start=int(own_owner.size + spare),
    )


def attribute_objects() -> list[dict[str, str]]:
    """Every transaction attribute object the simulator writes, indexed by `attribute_codes`:
    the 3-D Secure outcome (when there was one) and the customer's age band and segment."""
    out: list[dict[str, str]] = []
    for three_ds in (None, *catalog.THREE_DS):
        for band, _ in catalog.AGE_BANDS:
            for segment in catalog.SEGMENTS:
                row = {"customer_age_band": band, "customer_segment": segment}
                out.append(row if three_ds is None else {**row, "three_ds": three_ds})
    return out


def attribute_codes(three_ds: Ints, customers: Customers, customer: Ints) -> Ints:
    """Each transaction's index into `attribute_objects()` (three_ds -1: none)."""
    bands, segments = len(catalog.AGE_BANDS), len(catalog.SEGMENTS)
    code: Ints = ((three_ds + 1) * bands + customers.age_band[customer]) * segments
    return code + customers.segment[customer]
