"""What the feature engine needs before aggregating: IP -> country, country centres, geo maths.

Everything here works offline: the IP database and the centroid table ship with the installation.
"""

from fraudwatch.features.enrich.centroids import (
    COUNTRY_CENTROIDS,
    country_centroid,
    country_centroids,
)
from fraudwatch.features.enrich.geo import (
    EARTH_RADIUS_KM,
    MIN_TRAVEL_SECONDS,
    haversine_km,
    haversine_km_scalar,
    implied_speed_kmh,
    implied_speed_kmh_scalar,
)
from fraudwatch.features.enrich.ip import GeoIp2FastLocator, IpLocator, default_locator

__all__ = [
    "COUNTRY_CENTROIDS",
    "EARTH_RADIUS_KM",
    "MIN_TRAVEL_SECONDS",
    "GeoIp2FastLocator",
    "IpLocator",
    "country_centroid",
    "country_centroids",
    "default_locator",
    "haversine_km",
    "haversine_km_scalar",
    "implied_speed_kmh",
    "implied_speed_kmh_scalar",
]
