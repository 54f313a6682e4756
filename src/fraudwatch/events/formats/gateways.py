"""The bank and gateway payload formats, each a reader and the writer the simulator uses.

They differ the way real feeds do:

- `cardnet-json` (`cardnet.py`): a card network's nested JSON Lines, minor units, alpha currency;
- `bank-csv` (`bankcsv.py`): a bank's `;` CSV export, decimal comma, local wall-clock time;
- `iso8583-log` (`iso8583.py`): a switch's ISO 8583 `KEY=value` log, numeric currency codes.

Importing this module registers all three (`fraudwatch.events.formats` does so at start-up).
"""

from __future__ import annotations

from fraudwatch.events.formats.bankcsv import BankCsv, BankCsvWriter
from fraudwatch.events.formats.cardnet import CardnetJson, CardnetJsonWriter
from fraudwatch.events.formats.iso8583 import Iso8583Log, Iso8583LogWriter

__all__ = [
    "BankCsv",
    "BankCsvWriter",
    "CardnetJson",
    "CardnetJsonWriter",
    "Iso8583Log",
    "Iso8583LogWriter",
]
