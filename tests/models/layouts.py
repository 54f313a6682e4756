"""Bigger files in every public dataset layout, grown from the fixtures in tests/data/datasets:
the fixture rows repeated with new ids, times spread over 20 days, a few cards/customers, and
a learnable fraud signal (frauds pay more), so a backtest has something to train on."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from fraudwatch.events.formats.base import IngestContext, get_format
from fraudwatch.security.tokens import CardTokenizer

DATA = Path(__file__).parents[1] / "data" / "datasets"
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 20

Row = dict[str, str]


def _ulb(row: Row, i: int, seconds: int, amount: float, fraud: bool, who: int) -> None:
    row.update(Time=str(seconds), Amount=f"{amount:.2f}", Class="1" if fraud else "0")


def _handbook(row: Row, i: int, seconds: int, amount: float, fraud: bool, who: int) -> None:
    moment = START + timedelta(seconds=seconds)
    row.update(
        {
            "": str(i),
            "TRANSACTION_ID": str(i),
            "TX_DATETIME": moment.strftime("%Y-%m-%d %H:%M:%S"),
            "CUSTOMER_ID": str(who),
            "TERMINAL_ID": str(who * 7 % 50),
            "TX_AMOUNT": f"{amount:.2f}",
            "TX_TIME_SECONDS": str(seconds),
            "TX_TIME_DAYS": str(seconds // 86400),
            "TX_FRAUD": "1" if fraud else "0",
            "TX_FRAUD_SCENARIO": "1" if fraud else "0",
        }
    )


def _sparkov(row: Row, i: int, seconds: int, amount: float, fraud: bool, who: int) -> None:
    moment = START + timedelta(seconds=seconds)
    row.update(
        {
            "": str(i),
            "trans_date_trans_time": moment.strftime("%Y-%m-%d %H:%M:%S"),
            "cc_num": str(4000000000000000 + who),
            "amt": f"{amount:.2f}",
            "trans_num": f"{i:032x}",
            "unix_time": str(int(moment.timestamp())),
            "is_fraud": "1" if fraud else "0",
        }
    )


def _paysim(row: Row, i: int, seconds: int, amount: float, fraud: bool, who: int) -> None:
    row.update(
        step=str(seconds // 3600 + 1),
        amount=f"{amount:.2f}",
        nameOrig=f"C{1000 + who}",
        isFraud="1" if fraud else "0",
    )


def _ieee(row: Row, i: int, seconds: int, amount: float, fraud: bool, who: int) -> None:
    row.update(
        TransactionID=str(3000000 + i),
        TransactionDT=str(86400 + seconds),
        TransactionAmt=f"{amount:.2f}",
        card1=str(1000 + who),
        isFraud="1" if fraud else "0",
    )


LAYOUTS: dict[str, tuple[str, str, Callable[[Row, int, int, float, bool, int], None]]] = {
    "ulb": ("creditcard.csv", "creditcard.csv", _ulb),
    "handbook": ("handbook.csv", "handbook.csv", _handbook),
    "sparkov": ("fraudTrain.csv", "fraudTrain.csv", _sparkov),
    "paysim": ("paysim.csv", "paysim.csv", _paysim),
    "ieee-cis": ("train_transaction.csv", "train_transaction.csv", _ieee),
}


def write_layout(
    name: str, out_dir: Path, rows: int = 3000, seed: int = 0, fraud_rate: float = 0.04
) -> Path:
    """`rows` transactions in layout `name`, written to `out_dir`; returns the file."""
    fixture, file_name, fill = LAYOUTS[name]
    with (DATA / fixture).open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        templates = list(reader)
    ctx = IngestContext(
        tokenizer=CardTokenizer(bytes(range(32))),
        source=name,
        options={"identity": "none"} if name == "ieee-cis" else {},
    )
    records = list(get_format(name).read(str(DATA / fixture), ctx))
    # the fixtures hold deliberately broken rows: grow only from the good ones
    templates = [t for t, r in zip(templates, records, strict=True) if r.error is None]
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, DAYS * 86400, rows))
    fraud = rng.random(rows) < fraud_rate
    amount = np.where(fraud, rng.lognormal(6.0, 0.5, rows), rng.lognormal(3.5, 0.8, rows))
    who = rng.integers(0, 150, rows)
    path = out_dir / file_name
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        for i in range(rows):
            row = dict(templates[i % len(templates)])
            fill(row, i, int(seconds[i]), float(amount[i]), bool(fraud[i]), int(who[i]))
            writer.writerow({k: row.get(k, "") for k in header})
    return path
