"""Great-circle distance and implied travel speed, vectorised for batches, scalar for one event.

Both forms compute the same formula with the same constants, so the online single-event path, the
online batch path and the offline engine (which compiles the formula to SQL with `EARTH_RADIUS_KM`
and `MIN_TRAVEL_SECONDS`) agree to rounding (numpy's and libm's sine may differ in the last bit;
the speed formulas are the same operations in the same order). A missing coordinate is NaN (or
`None` in the scalar form) and gives NaN, never an exception.

    >>> round(haversine_km_scalar(52.520, 13.405, 48.857, 2.352), 1)  # Berlin -> Paris
    877.5
    >>> haversine_km(np.array([52.520, np.nan]), np.array([13.405, 0.0]), 48.857, 2.352).round(1)
    array([877.5,   nan])
    >>> implied_speed_kmh_scalar(877.5, 3600.0)  # an hour later: plausible by plane
    877.5
    >>> implied_speed_kmh_scalar(877.5, 0.0)  # same second: floored to a minute, not infinite
    52650.0
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Coordinates = npt.ArrayLike

EARTH_RADIUS_KM = 6371.0
"""Mean Earth radius; the haversine error against the ellipsoid stays under 0.5 %."""

MIN_TRAVEL_SECONDS = 60.0
"""Time differences shorter than this count as this long when computing a speed, so that two
events in the same second (or with identical timestamps) give a large finite speed, not infinity.
"""


def haversine_km(
    lat1: Coordinates, lon1: Coordinates, lat2: Coordinates, lon2: Coordinates
) -> FloatArray:
    """Great-circle distances in km between points given in degrees; arguments broadcast.

    Returns a float64 array of the broadcast shape (0-d for four scalars); NaN in, NaN out.
    """
    phi1 = np.radians(np.asarray(lat1, dtype=np.float64))
    phi2 = np.radians(np.asarray(lat2, dtype=np.float64))
    d_phi = phi2 - phi1
    d_lambda = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(d_phi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(d_lambda / 2) ** 2
    # rounding can push `a` a hair past 1 for antipodal points; np.minimum keeps NaN
    distance: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    return distance


def implied_speed_kmh(
    distance_km: Coordinates, seconds: Coordinates, *, min_seconds: float = MIN_TRAVEL_SECONDS
) -> FloatArray:
    """Speed in km/h needed to cover `distance_km` in `seconds` (|seconds|, at least `min_seconds`).

    The absolute time is used because an out-of-order pair is the same journey backwards.
    """
    elapsed = np.maximum(np.abs(np.asarray(seconds, dtype=np.float64)), min_seconds)
    speed: FloatArray = np.asarray(distance_km, dtype=np.float64) * 3600.0 / elapsed
    return speed


def haversine_km_scalar(
    lat1: float | None, lon1: float | None, lat2: float | None, lon2: float | None
) -> float:
    """`haversine_km` for one pair of points with the math module (~10x faster than numpy)."""
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return math.nan
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    if a > 1.0:  # noqa: PLR1730 - min(a, 1.0) would turn NaN into 1.0
        a = 1.0
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def implied_speed_kmh_scalar(
    distance_km: float | None,
    seconds: float | None,
    *,
    min_seconds: float = MIN_TRAVEL_SECONDS,
) -> float:
    """`implied_speed_kmh` for one pair of events; NaN when either input is missing."""
    if distance_km is None or seconds is None or math.isnan(seconds):
        return math.nan
    elapsed = abs(seconds)
    elapsed = max(elapsed, min_seconds)  # NaN was handled above
    return distance_km * 3600.0 / elapsed
