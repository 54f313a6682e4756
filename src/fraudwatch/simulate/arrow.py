"""Render slices of a simulation as Arrow tables in the flat canonical schemas of events/flat.py.

Every string column is a `take` from a small per-entity table or a vectorised formatter, so a
slice of a million rows costs a few C-level passes and no Python object per event.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from fraudwatch.events.flat import LABEL_SCHEMA, LOGIN_SCHEMA, TRANSACTION_SCHEMA
from fraudwatch.simulate import catalog
from fraudwatch.simulate.columns import decimals, dotted_quads, masked, take, timestamps
from fraudwatch.simulate.geo import CITIES, COUNTRIES
from fraudwatch.simulate.merchants import MCC_CODES, MerchantKind
from fraudwatch.simulate.people import attribute_codes, attribute_objects
from fraudwatch.simulate.simulation import Simulation
from fraudwatch.simulate.timeline import FRAUD_TYPES, LABEL_SOURCES

AMOUNT_SCALE = 6


def _strings(values: tuple[str, ...] | list[str]) -> pa.Array:
    return pa.array(list(values), type=pa.string())


class ArrowRenderer:
    """Builds the lookup tables once, then renders any slice of the simulation."""

    def __init__(self, simulation: Simulation) -> None:
        self._sim = simulation
        world = simulation.world
        people, merchants, devices = world.customers, world.merchants, world.devices
        countries = _strings([c.code for c in COUNTRIES])
        profiles = catalog.DEVICE_PROFILES
        self.bank_sources = _strings([b.source for b in catalog.INSTITUTIONS])
        self.customer_source = self.bank_sources.take(pa.array(people.bank))
        self.customer_country = countries.take(pa.array(people.country))
        self.countries = countries
        self.currencies = _strings(list(world.geo.currencies))
        self.merchant_mcc = _strings(MCC_CODES).take(pa.array(merchants.mcc))
        self.merchant_country = countries.take(pa.array(merchants.country))
        self.merchant_city = take(_strings([c.name for c in CITIES]), merchants.city)
        placed = (merchants.kind == MerchantKind.PHYSICAL) | (merchants.kind == MerchantKind.ATM)
        self.merchant_placed = placed
        self.device_type = _strings([p.type for p in profiles]).take(pa.array(devices.profile))
        self.device_os = _strings([p.os for p in profiles]).take(pa.array(devices.profile))
        self.device_agent = _strings([p.user_agent for p in profiles]).take(
            pa.array(devices.profile)
        )
        self.channels = _strings(catalog.CHANNELS)
        self.entry_modes = _strings(catalog.ENTRY_MODES)
        self.attributes = _strings(
            [json.dumps(value, sort_keys=True) for value in attribute_objects()]
        )
        self.fraud_types = pa.array([None, *FRAUD_TYPES], type=pa.string())
        self.label_sources = _strings(LABEL_SOURCES)

    def transactions(self, start: int, stop: int) -> pa.Table:
        sim = self._sim
        tx = sim.transactions
        world = sim.world
        people, merchants, devices = world.customers, world.merchants, world.devices
        rows = slice(start, stop)
        n = stop - start
        customer = tx.customer[rows]
        merchant = tx.merchant[rows]
        device = tx.device[rows]
        currency = tx.currency[rows]
        ip = tx.ip[rows]
        merchant_lat = merchants.latitude[merchant]
        merchant_lon = merchants.longitude[merchant]
        located = (merchant >= 0) & ~np.isnan(merchant_lat)
        placed = located & self.merchant_placed[merchant]
        no_string = pa.nulls(n, pa.string())
        columns = {
            "transaction_id": sim.transaction_ids(np.arange(start, stop)),
            "event_time": timestamps(tx.time[rows]),
            "amount": decimals(
                tx.amount[rows], world.geo.currency_exponent[currency], AMOUNT_SCALE
            ),
            "currency": self.currencies.take(pa.array(currency)),
            "source": self.customer_source.take(pa.array(customer)),
            "card_number": world.cards.pans.take(pa.array(tx.card[rows])),
            "card_token": no_string,
            "card_bin": no_string,
            "card_last4": no_string,
            "customer_id": people.ids.take(pa.array(customer)),
            "account_id": people.accounts.take(pa.array(customer)),
            "customer_name": people.names.take(pa.array(customer)),
            "customer_email": people.emails.take(pa.array(customer)),
            "customer_phone": people.phones.take(pa.array(customer)),
            "merchant_id": take(merchants.ids, merchant),
            "merchant_name": take(merchants.names, merchant),
            "merchant_mcc": take(self.merchant_mcc, merchant),
            "merchant_country": take(self.merchant_country, merchant),
            "merchant_city": take(self.merchant_city, merchant),
            "merchant_latitude": masked(merchant_lat, located),
            "merchant_longitude": masked(merchant_lon, located),
            "terminal_id": take(merchants.terminal_ids, tx.terminal[rows]),
            "channel": self.channels.take(pa.array(tx.channel[rows])),
            "entry_mode": take(self.entry_modes, tx.entry_mode[rows]),
            "device_id": take(devices.ids, device),
            "device_type": take(self.device_type, device),
            "device_os": take(self.device_os, device),
            "device_user_agent": take(self.device_agent, device),
            "device_fingerprint": take(devices.fingerprints, device),
            "ip_address": dotted_quads(ip, ip > 0),
            "billing_country": self.customer_country.take(pa.array(customer)),
            "shipping_country": take(self.countries, tx.shipping[rows]),
            "latitude": masked(merchants.latitude[merchant], placed),
            "longitude": masked(merchants.longitude[merchant], placed),
            "attributes": self.attributes.take(
                pa.array(attribute_codes(tx.three_ds[rows], people, customer))
            ),
            "personal": no_string,
        }
        return pa.Table.from_pydict(columns, schema=TRANSACTION_SCHEMA)

    def labels(self, start: int, stop: int) -> pa.Table:
        sim = self._sim
        labels = sim.labels
        rows = slice(start, stop)
        transaction = labels.transaction[rows]
        columns = {
            "transaction_id": sim.transaction_ids(transaction),
            "is_fraud": pa.array(labels.is_fraud[rows]),
            "fraud_type": self.fraud_types.take(pa.array(labels.fraud_type[rows])),
            "source": self.label_sources.take(pa.array(labels.source[rows])),
            "event_time": timestamps(sim.transactions.time[transaction]),
            "known_at": timestamps(labels.known_at[rows]),
        }
        return pa.Table.from_pydict(columns, schema=LABEL_SCHEMA)

    def logins(self, start: int, stop: int) -> pa.Table:
        sim = self._sim
        logins = sim.logins
        world = sim.world
        rows = slice(start, stop)
        customer = logins.customer[rows]
        device = logins.device[rows]
        ip = logins.ip[rows]
        columns = {
            "login_id": sim.login_ids(np.arange(start, stop)),
            "customer_id": world.customers.ids.take(pa.array(customer)),
            "event_time": timestamps(logins.time[rows]),
            "success": pa.array(logins.success[rows]),
            "source": self.customer_source.take(pa.array(customer)),
            "ip_address": dotted_quads(ip, ip > 0),
            "device_id": take(world.devices.ids, device),
            "device_type": take(self.device_type, device),
            "device_os": take(self.device_os, device),
            "device_user_agent": take(self.device_agent, device),
            "device_fingerprint": take(world.devices.fingerprints, device),
            "country": take(self.countries, logins.country[rows]),
            "latitude": pa.array(world.geo.city_latitude[logins.city[rows]]),
            "longitude": pa.array(world.geo.city_longitude[logins.city[rows]]),
        }
        return pa.Table.from_pydict(columns, schema=LOGIN_SCHEMA)
