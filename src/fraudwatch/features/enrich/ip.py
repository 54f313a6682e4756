"""IP address -> country, offline, from the database that ships inside the `geoip2fast` wheel.

The wheel carries MaxMind GeoLite2 *country* data for IPv4 and IPv6 (no cities, no coordinates),
so distances are computed at country level through `country_centroid`. Nothing is downloaded at
run time: the database is the file installed with the package, loaded on the first lookup (about
0.1 s and 40 MB), never at import time.

Anything that is not a routable public address in the database - private, loopback, reserved,
documentation ranges, malformed strings, continent-level codes such as `EU` - gives `None`; a
lookup never raises on bad input.

    >>> locator = default_locator()
    >>> locator.country("8.8.8.8"), locator.country("10.0.0.1"), locator.country("not an ip")
    ('US', None, None)
    >>> locator.countries(["2a00:1450:4001::1", None, "::ffff:8.8.8.8"])
    ['DE', None, 'US']
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from fraudwatch.features.enrich.centroids import COUNTRY_CENTROIDS

DEFAULT_CACHE_SIZE = 65_536
"""Distinct addresses remembered per locator (about 10 MB); an LRU evicts the rest."""

_DATA_FILE = "geoip2fast-ipv6.dat.gz"  # IPv4 and IPv6 networks, country level
_MAPPED_PREFIX = "::ffff:"


class IpLocator(Protocol):
    """Where an IP address is registered, as an upper-case ISO 3166-1 alpha-2 country code."""

    def country(self, ip: str | None) -> str | None:
        """The country of one address; `None` when unknown, private or not an address."""
        ...

    def countries(self, ips: Sequence[str | None]) -> list[str | None]:
        """`country` of each address, in order (the batch path of the feature engine)."""
        ...


class GeoIp2FastLocator:
    """`IpLocator` over the geoip2fast database, with a bounded LRU cache of resolved addresses.

    geoip2fast keeps its tables in module globals, so one database is loaded per process and
    shared by every locator; each locator has its own cache. Thread-safe.
    """

    def __init__(self, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self._cached = functools.lru_cache(maxsize=cache_size)(_resolve)

    def country(self, ip: str | None) -> str | None:
        if not ip:
            return None
        return self._cached(ip)

    def countries(self, ips: Sequence[str | None]) -> list[str | None]:
        cached = self._cached
        return [cached(ip) if ip else None for ip in ips]

    def load(self) -> None:
        """Load the database now (e.g. at service start-up, before `gc.freeze()`)."""
        _database()

    def cache_info(self) -> functools._CacheInfo:
        """Hits, misses and size of the address cache, for metrics."""
        return self._cached.cache_info()


@functools.cache
def default_locator() -> GeoIp2FastLocator:
    """The process-wide locator (created on first use; the database loads on first lookup)."""
    return GeoIp2FastLocator()


def _resolve(ip: str) -> str | None:
    address = _canonical_address(ip)
    if address is None:
        return None
    code: str = _database().lookup(address).country_code
    # private/reserved ranges come back as "--", bad input as "", continents as "EU"/"ASIA"
    return code if code in COUNTRY_CENTROIDS else None


def _canonical_address(ip: str) -> str | None:
    """The address if it is a strict IPv4 dotted quad or IPv6 text (IPv4-mapped unwrapped).

    Strict because `inet_aton`, which geoip2fast uses, also accepts `1.2.3` and `0x7f.1`.
    """
    try:
        socket.inet_pton(socket.AF_INET, ip)
        return ip
    except (OSError, ValueError):
        pass
    try:
        socket.inet_pton(socket.AF_INET6, ip)
    except (OSError, ValueError):
        return None
    if ip.lower().startswith(_MAPPED_PREFIX):
        return _canonical_address(ip[len(_MAPPED_PREFIX) :])
    return ip


class _SharedDatabase:
    """The geoip2fast database of the installed wheel, loaded once per process on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._database: Any = None

    def get(self) -> Any:
        if self._database is None:
            with self._lock:
                if self._database is None:
                    self._database = self._load()
        return self._database

    @staticmethod
    def _load() -> Any:
        module = _import_geoip2fast()
        path = Path(module.__file__).parent / _DATA_FILE
        if not path.is_file():
            raise FileNotFoundError(f"geoip2fast database {path} is missing from the installation")
        # an explicit absolute path: by default geoip2fast looks in the working directory first
        return module.GeoIP2Fast(geoip2fast_data_file=str(path))


_SHARED = _SharedDatabase()


def _database() -> Any:
    return _SHARED.get()


def _import_geoip2fast() -> Any:
    """Import geoip2fast, undoing the environment variables it sets for the whole process."""
    touched = ("PYTHONWARNINGS", "PYTHONIOENCODING")
    before = {name: os.environ.get(name) for name in touched}
    import geoip2fast  # type: ignore[import-untyped]

    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return geoip2fast
