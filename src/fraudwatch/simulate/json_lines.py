"""Vectorised canonical JSON Lines for transactions and logins, byte-identical to `model.encode`.

`model.encode` writes a struct as its non-default fields in sorted-key order, compact. So a line
is `{` + the `"key":value` fragments of the present fields, in sorted-key order, joined by `,` +
`}`. Every fragment is made by msgspec itself: once per entity for what belongs to a customer,
card, merchant, device or city, and by Arrow string kernels for the per-row values that need no
escaping (ids, amounts, timestamps, IP addresses). Missing values are nulls that the join skips,
which is `omit_defaults`. A test compares every line with `encode(<struct>)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fraudwatch.simulate.columns import dotted_quads, take
from fraudwatch.simulate.events import EventBuilder
from fraudwatch.simulate.people import attribute_codes

Ints = npt.NDArray[np.int64]
_encoder = msgspec.json.Encoder(order="sorted")


def fragments(key: str, values: Sequence[object]) -> pa.Array:
    """`"key":<JSON of value>` per value, encoded by msgspec; null where the value is None."""
    prefix = _encoder.encode(key) + b":"
    encoded = [None if v is None else prefix + _encoder.encode(v) for v in values]
    return pa.array(encoded, type=pa.binary())


def quoted(key: str, text: pa.Array) -> pa.Array:
    """`"key":"text"` for strings that need no JSON escaping (ids, digits, timestamps)."""
    head = pa.scalar(_encoder.encode(key) + b':"', pa.binary())
    return pc.binary_join_element_wise(head, text.cast(pa.binary()), pa.scalar(b'"'), b"")


_TWO_DIGITS = pa.array([f"{i:02d}" for i in range(60)], type=pa.string())


def iso_times(seconds: Ints) -> pa.Array:
    """RFC 3339 UTC timestamps as msgspec writes whole-second aware datetimes.

    Assembled from lookup tables (dates of the days spanned, two-digit numbers): several times
    faster than a strftime per row.
    """
    if seconds.size == 0:
        return pa.array([], type=pa.string())
    day, clock = np.divmod(seconds, 86_400)
    first = int(day.min())
    span = np.arange(first, int(day.max()) + 1).astype("datetime64[D]")
    dates = pa.array([f"{d}T" for d in np.datetime_as_string(span).tolist()], type=pa.string())
    hour, rest = np.divmod(clock, 3600)
    minute, second = np.divmod(rest, 60)
    return pc.binary_join_element_wise(
        dates.take(pa.array(day - first)),
        _TWO_DIGITS.take(pa.array(hour)),
        pa.scalar(":"),
        _TWO_DIGITS.take(pa.array(minute)),
        pa.scalar(":"),
        _TWO_DIGITS.take(pa.array(second)),
        pa.scalar("Z"),
        "",
    )


def amount_strings(minor: Ints, exponent: Ints) -> pa.Array:
    """`str(Decimal(minor).scaleb(-exponent))` of non-negative amounts."""
    scale = (10**exponent).astype(np.int64)
    whole = pa.array(minor // scale).cast(pa.string())
    text = whole
    for places in np.unique(exponent[exponent > 0]).tolist():
        fraction = pc.utf8_lpad(pa.array(minor % scale).cast(pa.string()), places, "0")
        with_fraction = pc.binary_join_element_wise(whole, fraction, ".")
        text = pc.if_else(pa.array(exponent == places), with_fraction, text)
    return text


def joined(*parts: pa.Array) -> pa.Array:
    """Fragments joined by commas, null ones left out (as `omit_defaults` leaves fields out)."""
    return pc.binary_join_element_wise(*parts, b",", null_handling="skip")


def lines(parts: list[pa.Array]) -> pa.Array:
    """One `{...}\\n` line per row from its fragments (already in sorted-key order)."""
    return pc.binary_join_element_wise(pa.scalar(b"{"), joined(*parts), pa.scalar(b"}\n"), b"")


class JsonLineEncoder:
    """Encodes rows of a simulation's transactions and logins as canonical JSON lines."""

    def __init__(self, builder: EventBuilder) -> None:
        b = builder
        self._sim = b.simulation
        geo = self._sim.world.geo
        # fields adjacent in sorted-key order and owned by one entity are pre-joined blocks
        self._account = fragments("account_id", b.accounts)
        self._billing = fragments("billing_country", b.billing)
        self._person = joined(
            fragments("customer_email", b.emails),
            fragments("customer_id", b.customer_ids),
            fragments("customer_name", b.names),
            fragments("customer_phone", b.phones),
        )
        self._customer_id = fragments("customer_id", b.customer_ids)
        self._source = fragments("source", b.sources)
        self._card = fragments("card", b.cards)
        placed = zip(b.latitude, b.longitude, b.placed, strict=True)
        where = [(lat, lon) if shown else (None, None) for lat, lon, shown in placed]
        self._merchant = joined(  # latitude, longitude (shops and ATMs only), merchant
            fragments("latitude", [lat for lat, _ in where]),
            fragments("longitude", [lon for _, lon in where]),
            fragments("merchant", b.merchants),
        )
        self._device = fragments("device", b.devices)
        self._attributes = fragments("attributes", b.attributes)
        self._channel = fragments("channel", [c.value for c in b.channels])
        self._entry_mode = fragments("entry_mode", b.entry_modes)
        self._currency = fragments("currency", b.currencies)
        self._shipping = fragments("shipping_country", b.countries)
        self._country = fragments("country", b.countries)
        self._terminal = quoted("terminal_id", self._sim.world.merchants.terminal_ids)
        self._city_latitude = fragments("latitude", geo.city_latitude.tolist())
        self._city_longitude = fragments("longitude", geo.city_longitude.tolist())
        self._transaction = fragments("type", ["transaction"])
        self._login = fragments("type", ["login"])
        self._failed = fragments("success", [False, None])

    def transactions(self, rows: Ints) -> pa.Array:
        sim = self._sim
        tx = sim.transactions
        customer = pa.array(tx.customer[rows])
        merchant = tx.merchant[rows]
        exponent = sim.world.geo.currency_exponent[tx.currency[rows]]
        ip = tx.ip[rows]
        attributes = attribute_codes(tx.three_ds[rows], sim.world.customers, tx.customer[rows])
        return lines(
            [
                self._account.take(customer),
                quoted("amount", amount_strings(tx.amount[rows], exponent)),
                self._attributes.take(pa.array(attributes)),
                self._billing.take(customer),
                self._card.take(pa.array(tx.card[rows])),
                self._channel.take(pa.array(tx.channel[rows])),
                self._currency.take(pa.array(tx.currency[rows])),
                self._person.take(customer),
                take(self._device, tx.device[rows]),
                take(self._entry_mode, tx.entry_mode[rows]),
                quoted("event_time", iso_times(tx.time[rows])),
                quoted("ip_address", dotted_quads(ip, ip > 0)),
                take(self._merchant, merchant),
                take(self._shipping, tx.shipping[rows]),
                self._source.take(customer),
                take(self._terminal, tx.terminal[rows]),
                quoted("transaction_id", sim.transaction_ids(rows)),
                self._transaction.take(pa.array(np.zeros(rows.size, dtype=np.int64))),
            ]
        )

    def logins(self, rows: Ints) -> pa.Array:
        sim = self._sim
        logins = sim.logins
        customer = pa.array(logins.customer[rows])
        city = pa.array(logins.city[rows])
        ip = logins.ip[rows]
        return lines(
            [
                take(self._country, logins.country[rows]),
                self._customer_id.take(customer),
                take(self._device, logins.device[rows]),
                quoted("event_time", iso_times(logins.time[rows])),
                quoted("ip_address", dotted_quads(ip, ip > 0)),
                self._city_latitude.take(city),
                quoted("login_id", sim.login_ids(rows)),
                self._city_longitude.take(city),
                self._source.take(customer),
                self._failed.take(pa.array(logins.success[rows].astype(np.int64))),
                self._login.take(pa.array(np.zeros(rows.size, dtype=np.int64))),
            ]
        )
