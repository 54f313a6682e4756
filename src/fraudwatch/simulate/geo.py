"""The simulated world's geography: countries (currency, FX rate, IP ranges) and cities.

Customers live in the home countries of the four institutions; the other countries exist as
travel destinations (legitimate customers go there too) and as places fraud comes from, so a
foreign country is a signal, never a giveaway.

IP ranges are a few large, long-standing allocations of national ISPs per country (approximate,
not a geolocation database): enough that a later IP -> country lookup agrees with the simulated
location most of the time. Local time uses the real time zone of each city (with DST).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from fraudwatch.events.currency import CURRENCIES


@dataclass(frozen=True, slots=True)
class Country:
    """A country: its currency, FX rate (units per EUR), ISP ranges and how it figures in trips."""

    code: str
    currency: str
    eur_rate: float
    ip_ranges: tuple[str, ...]
    phone_prefix: str
    travel_weight: float
    fraud_weight: float


@dataclass(frozen=True, slots=True)
class City:
    name: str
    country: str
    latitude: float
    longitude: float
    timezone: str
    population: float  # millions: drives where customers live and how many merchants there are


COUNTRIES: tuple[Country, ...] = (
    Country("DE", "EUR", 1.0, ("79.192.0.0/10", "84.128.0.0/10", "91.0.0.0/10"), "+49", 1.0, 0.5),
    Country("FR", "EUR", 1.0, ("90.16.0.0/12", "86.192.0.0/10", "2.8.0.0/13"), "+33", 2.0, 0.6),
    Country("NL", "EUR", 1.0, ("77.160.0.0/12", "84.24.0.0/13"), "+31", 0.8, 0.4),
    Country("AT", "EUR", 1.0, ("62.46.0.0/15", "80.108.0.0/15"), "+43", 0.8, 0.2),
    Country("ES", "EUR", 1.0, ("80.24.0.0/13", "83.32.0.0/11", "88.0.0.0/11"), "+34", 3.0, 0.6),
    Country("IT", "EUR", 1.0, ("79.0.0.0/10", "87.0.0.0/12"), "+39", 2.5, 0.6),
    Country("IE", "EUR", 1.0, ("86.40.0.0/13", "78.16.0.0/14"), "+353", 0.6, 0.2),
    Country("PT", "EUR", 1.0, ("85.240.0.0/13", "188.80.0.0/14"), "+351", 1.5, 0.3),
    Country("GR", "EUR", 1.0, ("94.64.0.0/13", "79.128.0.0/14"), "+30", 1.5, 0.3),
    Country("GB", "GBP", 0.85, ("86.128.0.0/10", "81.128.0.0/12", "31.48.0.0/13"), "+44", 1.5, 0.8),
    Country("CH", "CHF", 0.95, ("85.0.0.0/13", "178.192.0.0/13"), "+41", 0.8, 0.1),
    Country("PL", "PLN", 4.3, ("83.0.0.0/11", "89.64.0.0/12"), "+48", 0.6, 0.8),
    Country("US", "USD", 1.08, ("73.0.0.0/8", "98.192.0.0/10", "24.0.0.0/12"), "+1", 2.0, 1.5),
    Country("CA", "CAD", 1.47, ("99.224.0.0/11", "174.88.0.0/13"), "+1", 0.8, 0.3),
    Country("MX", "MXN", 18.5, ("189.128.0.0/10", "187.128.0.0/11"), "+52", 1.0, 1.0),
    Country("BR", "BRL", 5.9, ("177.0.0.0/10", "189.0.0.0/11"), "+55", 0.6, 1.6),
    Country(
        "JP", "JPY", 160.0, ("126.0.0.0/8", "153.128.0.0/10", "220.96.0.0/14"), "+81", 1.2, 0.2
    ),
    Country("KR", "KRW", 1450.0, ("175.192.0.0/10", "121.128.0.0/10"), "+82", 0.8, 0.3),
    Country("CN", "CNY", 7.8, ("117.128.0.0/10", "183.0.0.0/10"), "+86", 0.6, 1.2),
    Country("HK", "HKD", 8.4, ("219.76.0.0/14", "42.2.0.0/15"), "+852", 0.6, 0.5),
    Country("SG", "SGD", 1.45, ("116.86.0.0/15", "121.6.0.0/15"), "+65", 0.6, 0.2),
    Country("TH", "THB", 38.0, ("171.96.0.0/13", "49.228.0.0/14"), "+66", 1.5, 0.6),
    Country("VN", "VND", 27000.0, ("113.160.0.0/11", "14.160.0.0/11"), "+84", 0.5, 1.2),
    Country("ID", "IDR", 17300.0, ("36.64.0.0/11", "114.120.0.0/13"), "+62", 0.7, 1.4),
    Country("TR", "TRY", 35.0, ("78.160.0.0/11", "88.224.0.0/11"), "+90", 1.2, 1.0),
    Country("AE", "AED", 4.0, ("94.200.0.0/13", "86.96.0.0/14"), "+971", 0.8, 0.4),
    Country("RO", "RON", 4.97, ("86.120.0.0/13", "79.112.0.0/14"), "+40", 0.3, 1.6),
    Country("UA", "UAH", 44.0, ("93.73.0.0/16", "176.36.0.0/14"), "+380", 0.2, 1.3),
    Country("NG", "NGN", 1650.0, ("105.112.0.0/12", "197.210.0.0/16"), "+234", 0.1, 1.8),
)

CITIES: tuple[City, ...] = (
    City("Berlin", "DE", 52.520, 13.405, "Europe/Berlin", 3.6),
    City("Hamburg", "DE", 53.551, 9.994, "Europe/Berlin", 1.8),
    City("Munich", "DE", 48.137, 11.575, "Europe/Berlin", 1.5),
    City("Cologne", "DE", 50.938, 6.960, "Europe/Berlin", 1.1),
    City("Frankfurt", "DE", 50.110, 8.682, "Europe/Berlin", 0.8),
    City("Leipzig", "DE", 51.340, 12.375, "Europe/Berlin", 0.6),
    City("Paris", "FR", 48.857, 2.352, "Europe/Paris", 2.1),
    City("Lyon", "FR", 45.764, 4.836, "Europe/Paris", 0.5),
    City("Marseille", "FR", 43.296, 5.370, "Europe/Paris", 0.9),
    City("Amsterdam", "NL", 52.370, 4.895, "Europe/Amsterdam", 0.9),
    City("Rotterdam", "NL", 51.924, 4.478, "Europe/Amsterdam", 0.65),
    City("Vienna", "AT", 48.208, 16.373, "Europe/Vienna", 1.9),
    City("Madrid", "ES", 40.417, -3.704, "Europe/Madrid", 3.3),
    City("Barcelona", "ES", 41.385, 2.173, "Europe/Madrid", 1.6),
    City("Rome", "IT", 41.903, 12.496, "Europe/Rome", 2.8),
    City("Milan", "IT", 45.464, 9.190, "Europe/Rome", 1.4),
    City("Dublin", "IE", 53.350, -6.260, "Europe/Dublin", 1.2),
    City("Lisbon", "PT", 38.722, -9.139, "Europe/Lisbon", 0.5),
    City("Athens", "GR", 37.984, 23.728, "Europe/Athens", 0.7),
    City("London", "GB", 51.507, -0.128, "Europe/London", 8.9),
    City("Manchester", "GB", 53.481, -2.243, "Europe/London", 0.6),
    City("Birmingham", "GB", 52.486, -1.890, "Europe/London", 1.1),
    City("Leeds", "GB", 53.801, -1.549, "Europe/London", 0.8),
    City("Glasgow", "GB", 55.864, -4.252, "Europe/London", 0.6),
    City("Bristol", "GB", 51.455, -2.588, "Europe/London", 0.5),
    City("Zurich", "CH", 47.377, 8.541, "Europe/Zurich", 0.4),
    City("Warsaw", "PL", 52.230, 21.012, "Europe/Warsaw", 1.8),
    City("New York", "US", 40.713, -74.006, "America/New_York", 8.3),
    City("Los Angeles", "US", 34.052, -118.244, "America/Los_Angeles", 3.9),
    City("Chicago", "US", 41.878, -87.630, "America/Chicago", 2.7),
    City("Houston", "US", 29.760, -95.370, "America/Chicago", 2.3),
    City("Phoenix", "US", 33.448, -112.074, "America/Phoenix", 1.6),
    City("San Francisco", "US", 37.775, -122.419, "America/Los_Angeles", 0.9),
    City("Seattle", "US", 47.606, -122.332, "America/Los_Angeles", 0.75),
    City("Denver", "US", 39.739, -104.990, "America/Denver", 0.7),
    City("Miami", "US", 25.762, -80.192, "America/New_York", 0.45),
    City("Boston", "US", 42.360, -71.059, "America/New_York", 0.65),
    City("Toronto", "CA", 43.653, -79.383, "America/Toronto", 2.8),
    City("Mexico City", "MX", 19.433, -99.133, "America/Mexico_City", 9.2),
    City("Cancun", "MX", 21.161, -86.851, "America/Cancun", 0.9),
    City("Sao Paulo", "BR", -23.551, -46.633, "America/Sao_Paulo", 12.3),
    City("Rio de Janeiro", "BR", -22.907, -43.173, "America/Sao_Paulo", 6.7),
    City("Tokyo", "JP", 35.690, 139.692, "Asia/Tokyo", 9.7),
    City("Yokohama", "JP", 35.444, 139.638, "Asia/Tokyo", 3.7),
    City("Osaka", "JP", 34.694, 135.502, "Asia/Tokyo", 2.7),
    City("Nagoya", "JP", 35.181, 136.906, "Asia/Tokyo", 2.3),
    City("Sapporo", "JP", 43.062, 141.354, "Asia/Tokyo", 1.9),
    City("Fukuoka", "JP", 33.590, 130.402, "Asia/Tokyo", 1.6),
    City("Seoul", "KR", 37.567, 126.978, "Asia/Seoul", 9.7),
    City("Shanghai", "CN", 31.230, 121.474, "Asia/Shanghai", 24.9),
    City("Shenzhen", "CN", 22.543, 114.058, "Asia/Shanghai", 17.5),
    City("Hong Kong", "HK", 22.320, 114.169, "Asia/Hong_Kong", 7.4),
    City("Singapore", "SG", 1.352, 103.820, "Asia/Singapore", 5.6),
    City("Bangkok", "TH", 13.756, 100.502, "Asia/Bangkok", 10.5),
    City("Phuket", "TH", 7.880, 98.392, "Asia/Bangkok", 0.4),
    City("Ho Chi Minh City", "VN", 10.823, 106.630, "Asia/Ho_Chi_Minh", 9.0),
    City("Jakarta", "ID", -6.209, 106.846, "Asia/Jakarta", 10.6),
    City("Denpasar", "ID", -8.650, 115.216, "Asia/Makassar", 0.9),
    City("Istanbul", "TR", 41.008, 28.978, "Europe/Istanbul", 15.5),
    City("Dubai", "AE", 25.205, 55.271, "Asia/Dubai", 3.5),
    City("Bucharest", "RO", 44.427, 26.103, "Europe/Bucharest", 1.8),
    City("Kyiv", "UA", 50.450, 30.523, "Europe/Kyiv", 2.9),
    City("Lagos", "NG", 6.524, 3.379, "Africa/Lagos", 15.4),
)

COUNTRY_INDEX: dict[str, int] = {c.code: i for i, c in enumerate(COUNTRIES)}
CITY_INDEX: dict[str, int] = {c.name: i for i, c in enumerate(CITIES)}

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GeoTables:
    """The tables above as numpy arrays, indexed by city / country / currency position."""

    city_country: IntArray
    city_latitude: FloatArray
    city_longitude: FloatArray
    city_population: FloatArray
    country_currency: IntArray  # index into `currencies`
    country_travel: FloatArray
    country_fraud: FloatArray
    currencies: tuple[str, ...]
    currency_exponent: IntArray
    currency_rate: FloatArray  # units per EUR
    ip_start: IntArray  # CSR over countries into ip_base / ip_size
    ip_count: IntArray
    ip_base: IntArray
    ip_size: IntArray

    def cities_in(self, country: int) -> IntArray:
        return np.flatnonzero(self.city_country == country)

    def random_ips(self, country: IntArray, rng: np.random.Generator) -> IntArray:
        """One IPv4 address (as an integer) per row, inside a range of that row's country."""
        pick = self.ip_start[country] + (rng.random(country.size) * self.ip_count[country]).astype(
            np.int64
        )
        size = self.ip_size[pick]
        # skip the network and broadcast addresses of every /24 for plausibility
        offset = (rng.random(country.size) * (size // 256)).astype(np.int64) * 256
        host = rng.integers(1, 255, size=country.size)
        return self.ip_base[pick] + offset + host

    def ip_country(self, ips: IntArray) -> IntArray:
        """The country whose range holds each address (-1 if none): the lookup ingestion does."""
        order = np.argsort(self.ip_base)
        bases = self.ip_base[order]
        position = np.searchsorted(bases, ips, side="right") - 1
        inside = (position >= 0) & (ips < bases[position] + self.ip_size[order][position])
        owner = np.repeat(np.arange(self.ip_start.size), self.ip_count)[order][position]
        return np.where(inside, owner, -1)


def build_geo() -> GeoTables:
    codes = sorted({c.currency for c in COUNTRIES})
    currency_pos = {code: i for i, code in enumerate(codes)}
    rates = {c.currency: c.eur_rate for c in COUNTRIES}
    bases: list[int] = []
    sizes: list[int] = []
    counts: list[int] = []
    for country in COUNTRIES:
        for cidr in country.ip_ranges:
            network = ipaddress.IPv4Network(cidr)
            bases.append(int(network.network_address))
            sizes.append(network.num_addresses)
        counts.append(len(country.ip_ranges))
    count = np.array(counts, dtype=np.int64)
    return GeoTables(
        city_country=np.array([COUNTRY_INDEX[c.country] for c in CITIES], dtype=np.int64),
        city_latitude=np.array([c.latitude for c in CITIES]),
        city_longitude=np.array([c.longitude for c in CITIES]),
        city_population=np.array([c.population for c in CITIES]),
        country_currency=np.array([currency_pos[c.currency] for c in COUNTRIES], dtype=np.int64),
        country_travel=np.array([c.travel_weight for c in COUNTRIES]),
        country_fraud=np.array([c.fraud_weight for c in COUNTRIES]),
        currencies=tuple(codes),
        currency_exponent=np.array([CURRENCIES[c].exponent for c in codes], dtype=np.int64),
        currency_rate=np.array([rates[c] for c in codes]),
        ip_start=np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64),
        ip_count=count,
        ip_base=np.array(bases, dtype=np.int64),
        ip_size=np.array(sizes, dtype=np.int64),
    )


def utc_offsets(start: datetime, days: int) -> IntArray:
    """Seconds east of UTC of every city on every simulated day ([city, day]), DST included."""
    table = np.empty((len(CITIES), days + 1), dtype=np.int64)
    noons = [start.astimezone(UTC) + timedelta(days=d, hours=12) for d in range(days + 1)]
    for i, city in enumerate(CITIES):
        zone = ZoneInfo(city.timezone)
        for d, noon in enumerate(noons):
            offset = noon.astimezone(zone).utcoffset()
            table[i, d] = int(offset.total_seconds()) if offset is not None else 0
    return table


def distance_km(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """Great-circle distance (haversine), used by tests and the summary of travel realism."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    result: FloatArray = 12742.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return result
