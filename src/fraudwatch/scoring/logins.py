"""Login risk: impossible travel, a new device or country, a burst of failures — per customer.

A login is scored against the customer's earlier logins (kept in memory for `horizon_s`, bounded
per customer), and its risk is remembered: transaction scoring reads `recent_risk(customer, t)`,
the highest login risk of that customer in the hour before t, as the field `login_risk_1h`.

    risk = min(1, 0.5·impossible_travel + 0.3·new_country + 0.2·new_device + 0.3·failure_burst)

A new device or country counts only for a customer with earlier logins (the first login of a
customer is nobody's anomaly); travel uses the login's position, else its IP country's centroid.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from fraudwatch.events.model import Login
from fraudwatch.features.enrich.centroids import country_centroid
from fraudwatch.features.enrich.geo import haversine_km_scalar, implied_speed_kmh_scalar
from fraudwatch.features.enrich.ip import IpLocator
from fraudwatch.features.rows import micros

IMPOSSIBLE_KMH = 900.0
FAILURE_BURST = 3  # failed logins within an hour, this one included
HOUR_US = 3_600_000_000
MAX_REMEMBERED = 50  # devices and countries per customer


@dataclass(frozen=True)
class LoginAssessment:
    login_id: str
    customer_id: str
    risk: float
    reasons: list[str]


@dataclass
class _Customer:
    last_ts: int | None = None
    last_position: tuple[float, float] | None = None
    devices: OrderedDict[str, None] = field(default_factory=OrderedDict)
    countries: OrderedDict[str, None] = field(default_factory=OrderedDict)
    failures: deque[int] = field(default_factory=deque)
    risks: deque[tuple[int, float]] = field(default_factory=deque)  # (ts, risk), last hour


def _remember(seen: OrderedDict[str, None], value: str) -> None:
    seen[value] = None
    seen.move_to_end(value)
    while len(seen) > MAX_REMEMBERED:
        seen.popitem(last=False)


class LoginRisk:
    def __init__(self, locator: IpLocator, *, max_customers: int = 1_000_000) -> None:
        self._locator = locator
        self._customers: OrderedDict[str, _Customer] = OrderedDict()
        self._max = max_customers
        self._lock = threading.Lock()

    def assess(self, login: Login) -> LoginAssessment:
        ts = micros(login.event_time)
        country = login.country or self._locator.country(login.ip_address)
        position = (
            (login.latitude, login.longitude)
            if login.latitude is not None and login.longitude is not None
            else country_centroid(country)
        )
        device = login.device.id if login.device else None
        with self._lock:
            state = self._customers.get(login.customer_id)
            known = state is not None and state.last_ts is not None
            if state is None:
                state = self._customers[login.customer_id] = _Customer()
                if len(self._customers) > self._max:
                    self._customers.popitem(last=False)
            self._customers.move_to_end(login.customer_id)
            risk, reasons = 0.0, []
            if known and position and state.last_position and state.last_ts is not None:
                km = haversine_km_scalar(*state.last_position, *position)
                speed = implied_speed_kmh_scalar(km, (ts - state.last_ts) / 1e6)
                if speed > IMPOSSIBLE_KMH:
                    risk += 0.5
                    reasons.append(f"impossible travel: {km:,.0f} km at {speed:,.0f} km/h")
            if known and country and country not in state.countries:
                risk += 0.3
                reasons.append(f"first login from {country}")
            if known and device and device not in state.devices:
                risk += 0.2
                reasons.append("new device")
            if not login.success:
                state.failures.append(ts)
            while state.failures and state.failures[0] <= ts - HOUR_US:
                state.failures.popleft()
            if len(state.failures) >= FAILURE_BURST:
                risk += 0.3
                reasons.append(f"{len(state.failures)} failed logins within an hour")
            risk = min(1.0, risk)
            if login.success:
                state.last_ts, state.last_position = ts, position or state.last_position
                if country:
                    _remember(state.countries, country)
                if device:
                    _remember(state.devices, device)
            state.risks.append((ts, risk))
            while state.risks and state.risks[0][0] <= ts - HOUR_US:
                state.risks.popleft()
        return LoginAssessment(login.login_id, login.customer_id, risk, reasons)

    def recent_risk(self, customer_id: str | None, ts: int) -> float | None:
        """The highest login risk of the customer within the hour up to `ts`; None if none."""
        if customer_id is None:
            return None
        with self._lock:
            state = self._customers.get(customer_id)
            if state is None:
                return None
            risks = [r for t, r in state.risks if ts - HOUR_US < t <= ts]
        return max(risks) if risks else None
