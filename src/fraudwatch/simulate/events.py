"""Materialise rows of a simulation as canonical msgspec events (for gateway writers and labels).

Only the line formats need one object per event. Cards, merchants and devices are built once per
entity and shared by every transaction that uses them; every value comes from the same lookup
tables as the Parquet rendering, so all paths carry exactly the same content.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from fraudwatch.events.model import (
    AttributeValue,
    Card,
    Channel,
    Device,
    Label,
    LabelSource,
    Login,
    Merchant,
    Transaction,
)
from fraudwatch.simulate import catalog
from fraudwatch.simulate.arrow import ArrowRenderer
from fraudwatch.simulate.columns import dotted_quads, take
from fraudwatch.simulate.people import attribute_codes, attribute_objects
from fraudwatch.simulate.simulation import Simulation
from fraudwatch.simulate.timeline import FRAUD_TYPES, LABEL_SOURCES

Ints = npt.NDArray[np.int64]


def datetimes(seconds: Ints) -> list[datetime]:
    return [datetime.fromtimestamp(s, UTC) for s in seconds.tolist()]


def ip_strings(ips: Ints) -> list[str | None]:
    result: list[str | None] = dotted_quads(ips, ips > 0).to_pylist()
    return result


def _or_none(values: list[float]) -> list[float | None]:
    return [None if np.isnan(v) else v for v in values]


class EventBuilder:
    """Canonical `Transaction`, `Login` and `Label` objects for rows of a simulation.

    The per-entity structs and lookup lists are public: `JsonLineEncoder` encodes from them.
    """

    def __init__(self, simulation: Simulation, renderer: ArrowRenderer) -> None:
        self.simulation = simulation
        world = simulation.world
        people, merchants, devices = world.customers, world.merchants, world.devices
        self.cards = [Card(number=pan) for pan in world.cards.pans.to_pylist()]
        self.latitude = _or_none(merchants.latitude.tolist())
        self.longitude = _or_none(merchants.longitude.tolist())
        merchant_fields = zip(
            merchants.ids.to_pylist(),
            merchants.names.to_pylist(),
            renderer.merchant_mcc.to_pylist(),
            renderer.merchant_country.to_pylist(),
            renderer.merchant_city.to_pylist(),
            self.latitude,
            self.longitude,
            strict=True,
        )
        self.merchants = [
            Merchant(id=i, name=n, mcc=m, country=c, city=t, latitude=y, longitude=x)
            for i, n, m, c, t, y, x in merchant_fields
        ]
        self.placed: list[bool] = renderer.merchant_placed.tolist()
        device_fields = zip(
            devices.ids.to_pylist(),
            renderer.device_type.to_pylist(),
            renderer.device_os.to_pylist(),
            renderer.device_agent.to_pylist(),
            devices.fingerprints.to_pylist(),
            strict=True,
        )
        self.devices = [
            Device(id=i, type=t, os=o, user_agent=u, fingerprint=f)
            for i, t, o, u, f in device_fields
        ]
        self.customer_ids: list[str] = people.ids.to_pylist()
        self.accounts: list[str] = people.accounts.to_pylist()
        self.names: list[str] = people.names.to_pylist()
        self.emails: list[str] = people.emails.to_pylist()
        self.phones: list[str] = people.phones.to_pylist()
        self.sources: list[str] = renderer.customer_source.to_pylist()
        self.billing: list[str] = renderer.customer_country.to_pylist()
        self.countries: list[str] = renderer.countries.to_pylist()
        self.currencies: list[str] = renderer.currencies.to_pylist()
        self.channels = [Channel(c) for c in catalog.CHANNELS]
        self.entry_modes = list(catalog.ENTRY_MODES)
        self.attributes: list[dict[str, AttributeValue]] = [dict(a) for a in attribute_objects()]
        self.exponents: list[int] = world.geo.currency_exponent.tolist()

    def terminal_ids(self, terminal: Ints) -> list[str | None]:
        ids = self.simulation.world.merchants.terminal_ids
        result: list[str | None] = take(ids, terminal).to_pylist()
        return result

    def transactions(self, rows: Ints) -> Iterator[Transaction]:
        """The transactions at these row positions, in that order."""
        sim = self.simulation
        tx = sim.transactions
        ids = sim.transaction_ids(rows).to_pylist()
        times = datetimes(tx.time[rows])
        ips = ip_strings(tx.ip[rows])
        terminals = self.terminal_ids(tx.terminal[rows])
        columns = zip(
            tx.customer[rows].tolist(),
            tx.card[rows].tolist(),
            tx.merchant[rows].tolist(),
            tx.channel[rows].tolist(),
            tx.entry_mode[rows].tolist(),
            tx.device[rows].tolist(),
            tx.amount[rows].tolist(),
            tx.currency[rows].tolist(),
            tx.shipping[rows].tolist(),
            attribute_codes(tx.three_ds[rows], sim.world.customers, tx.customer[rows]).tolist(),
            strict=True,
        )
        for i, row in enumerate(columns):
            customer, card, merchant, channel, entry, device, amount, currency = row[:8]
            shipping, attributes = row[8:]
            shop = self.merchants[merchant] if merchant >= 0 else None
            located = merchant >= 0 and self.placed[merchant]
            yield Transaction(
                transaction_id=ids[i],
                event_time=times[i],
                amount=Decimal(amount).scaleb(-self.exponents[currency]),
                currency=self.currencies[currency],
                source=self.sources[customer],
                card=self.cards[card],
                customer_id=self.customer_ids[customer],
                account_id=self.accounts[customer],
                customer_name=self.names[customer],
                customer_email=self.emails[customer],
                customer_phone=self.phones[customer],
                merchant=shop,
                terminal_id=terminals[i],
                channel=self.channels[channel],
                entry_mode=self.entry_modes[entry] if entry >= 0 else None,
                device=self.devices[device] if device >= 0 else None,
                ip_address=ips[i],
                billing_country=self.billing[customer],
                shipping_country=self.countries[shipping] if shipping >= 0 else None,
                latitude=self.latitude[merchant] if located else None,
                longitude=self.longitude[merchant] if located else None,
                attributes=dict(self.attributes[attributes]),
            )

    def logins(self, rows: Ints) -> Iterator[Login]:
        sim = self.simulation
        logins = sim.logins
        ids = sim.login_ids(rows).to_pylist()
        ips = ip_strings(logins.ip[rows])
        times = datetimes(logins.time[rows])
        columns = zip(
            logins.customer[rows].tolist(),
            logins.device[rows].tolist(),
            logins.success[rows].tolist(),
            logins.country[rows].tolist(),
            self.simulation.world.geo.city_latitude[logins.city[rows]].tolist(),
            self.simulation.world.geo.city_longitude[logins.city[rows]].tolist(),
            strict=True,
        )
        for i, (customer, device, success, country, lat, lon) in enumerate(columns):
            yield Login(
                login_id=ids[i],
                customer_id=self.customer_ids[customer],
                event_time=times[i],
                success=success,
                source=self.sources[customer],
                ip_address=ips[i],
                device=self.devices[device] if device >= 0 else None,
                country=self.countries[country] if country >= 0 else None,
                latitude=lat,
                longitude=lon,
            )

    def labels(self, rows: Ints) -> Iterator[Label]:
        sim = self.simulation
        labels = sim.labels
        transaction = labels.transaction[rows]
        ids = sim.transaction_ids(transaction).to_pylist()
        event_times = datetimes(sim.transactions.time[transaction])
        known = datetimes(labels.known_at[rows])
        sources = [LabelSource(s) for s in LABEL_SOURCES]
        fraud_types = [None, *FRAUD_TYPES]
        columns = zip(
            labels.is_fraud[rows].tolist(),
            labels.fraud_type[rows].tolist(),
            labels.source[rows].tolist(),
            strict=True,
        )
        for i, (is_fraud, fraud_type, source) in enumerate(columns):
            yield Label(
                transaction_id=ids[i],
                is_fraud=is_fraud,
                event_time=event_times[i],
                known_at=known[i],
                source=sources[source],
                fraud_type=fraud_types[fraud_type],
            )
