"""Reference exchange rates, so amounts in different currencies can be aggregated together.

Velocity sums and behaviour baselines mix currencies (a traveller pays in JPY, then in EUR), so
the feature engines aggregate amounts converted to one reporting currency (EUR). The table holds
approximate reference rates (units of the currency per EUR, late 2026), good enough for
features, not for accounting. A currency missing here is aggregated unconverted and counted in
the engine's statistics; deployments override the table in settings (a later issue).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

REPORTING_CURRENCY = "EUR"

UNITS_PER_EUR: dict[str, Decimal] = {
    code: Decimal(rate)
    for code, rate in {
        "EUR": "1", "USD": "1.08", "GBP": "0.85", "JPY": "162", "CHF": "0.95", "CAD": "1.49",
        "AUD": "1.65", "NZD": "1.80", "SEK": "11.5", "NOK": "11.7", "DKK": "7.46", "PLN": "4.30",
        "CZK": "25.2", "HUF": "395", "RON": "4.97", "BGN": "1.96", "TRY": "37.5", "UAH": "44.0",
        "CNY": "7.80", "HKD": "8.45", "SGD": "1.45", "KRW": "1480", "INR": "90.5", "IDR": "17400",
        "THB": "38.5", "VND": "27500", "MYR": "5.05", "PHP": "62.0", "AED": "3.97", "SAR": "4.05",
        "ILS": "4.00", "ZAR": "19.8", "NGN": "1650", "KES": "140", "EGP": "52.5", "MXN": "18.5",
        "BRL": "5.90", "ARS": "1050", "CLP": "1010", "COP": "4400", "PEN": "4.05",
    }.items()
}  # fmt: skip

_MICRO = Decimal(1_000_000)


def to_reporting_micro(amount: Decimal, currency: str) -> int:
    """`amount` in `currency` as whole millionths of a EUR (exact integer, half-even rounded).

    >>> to_reporting_micro(Decimal("10.80"), "USD")
    10000000
    >>> to_reporting_micro(Decimal("5"), "XXX")  # unknown: unconverted
    5000000
    """
    rate = UNITS_PER_EUR.get(currency)
    value = amount * _MICRO if rate is None else amount * _MICRO / rate
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))
