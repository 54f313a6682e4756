"""The columnar Parquet load gives exactly the rows of the per-row reader, bad rows included."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fraudwatch.events import flat
from fraudwatch.events.columnar import read_canonical_parquet
from fraudwatch.events.formats.base import IngestContext, get_format
from fraudwatch.events.model import Label, Transaction
from fraudwatch.features.enrich.fx import to_reporting_micro
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.models.columnar_history import load_parquet_history, reporting_micro
from fraudwatch.models.dataset import LabelledHistory, load_labelled_history, parquet_files
from fraudwatch.security.tokens import CardTokenizer

DATA = Path(__file__).parents[1] / "data"
#: every public layout fixture: file, format, format options
FIXTURES = [
    ("datasets/creditcard.csv", "ulb", {}),
    ("datasets/handbook.csv", "handbook", {}),
    ("datasets/fraudTrain.csv", "sparkov", {}),
    ("datasets/paysim.csv", "paysim", {}),
    ("datasets/train_transaction.csv", "ieee-cis", {}),
    ("datasets/test_transaction.csv", "ieee-cis", {}),
    ("formats/bank.csv", "bank-csv", {"source": "northbank"}),
    ("formats/cardnet.jsonl", "cardnet-json", {}),
    ("formats/iso8583.log", "iso8583-log", {"source": "northbank"}),
    ("formats/payments.mongo.json", "documents", {}),
    ("formats/payment-service.log", "applog", {}),
    ("formats/checkout-access.log", "applog", {"log_type": "checkout-access"}),
    ("formats/pos-syslog.log", "applog", {"log_type": "pos-syslog"}),
]


def context(**options: str) -> IngestContext:
    return IngestContext(tokenizer=CardTokenizer(bytes(range(32))), source="t", options=options)


def as_tuples(history: LabelledHistory) -> dict[str, Any]:
    h = history.history
    return {
        "transactions": [dataclasses.astuple(r) for r in h.transactions],
        "labels": [dataclasses.astuple(r) for r in h.labels],
        "read": h.read,
        "refused": dict(h.refused),
        "scenarios": history.scenarios,
        "groups": history.groups,
    }


def both(location: Path, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    per_row = load_labelled_history(
        "parquet", str(location), context(), default_locator(), columnar=False
    )
    files = parquet_files(str(location))
    columnar = load_parquet_history(files, context(), default_locator(), **kwargs)
    return as_tuples(per_row), as_tuples(columnar)


def test_simulated_history_loads_identically_and_wholly_by_column(simulated_dir: Path) -> None:
    per_row, columnar = both(simulated_dir)
    assert per_row["transactions"] and per_row["labels"] and per_row["scenarios"]
    assert set(per_row["groups"]["age_band"]) == {"18-24", "25-34", "35-49", "50-64", "65+"}
    assert columnar == per_row
    # the simulator's files are wholly vouched for: no row went to the per-row parser
    files = sorted(f for f in simulated_dir.glob("*.parquet") if "login" not in f.name)
    batches = list(read_canonical_parquet(files, context()))
    assert sum(len(b.slow or ()) for b in batches) == 0
    assert sum(b.rows for b in batches) == per_row["read"]


@pytest.mark.parametrize(("fixture", "format", "options"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_every_public_layout_loads_identically(
    fixture: str, format: str, options: dict[str, str], tmp_path: Path
) -> None:
    """Each fixture as canonical Parquet (what `ingest` would make of it), loaded both ways."""
    records = list(get_format(format).read(str(DATA / fixture), context(**options)))
    events = [e for r in records for e in r.events]
    txs = [flat.flatten_transaction(e) for e in events if isinstance(e, Transaction)]
    labels = [flat.label_row(e) for e in events if isinstance(e, Label)]
    assert txs, f"{fixture} gave no transaction"
    pq.write_table(
        pa.Table.from_pylist(txs, schema=flat.TRANSACTION_SCHEMA), tmp_path / "t.parquet"
    )
    if labels:
        pq.write_table(
            pa.Table.from_pylist(labels, schema=flat.LABEL_SCHEMA), tmp_path / "l.parquet"
        )
    per_row, columnar = both(tmp_path, batch_rows=7)
    assert len(per_row["transactions"]) == len(txs)
    assert columnar == per_row


T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)
CARD = "4111111111111111"  # passes Luhn


def tx(i: int, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "transaction_id": f"t{i}",
        "event_time": T0 + timedelta(minutes=i),
        "amount": Decimal("12.340000"),
        "currency": "EUR",
        "source": "bank",
        "card_number": CARD,
        "customer_id": f"c{i % 3}",
        "merchant_id": "m1",
        "merchant_mcc": "5411",
        "merchant_country": "DE",
        "merchant_latitude": 52.5,
        "merchant_longitude": 13.4,
        "channel": "ecommerce",
        "ip_address": "91.20.135.228",
        "billing_country": "DE",
    }
    row.update(fields)
    return row


GOOD = [
    tx(1),
    tx(2, currency="JPY", amount=Decimal("243.000000")),  # 243/162 = 1.5: half to even
    tx(3, currency="JPY", amount=Decimal("81.000000")),  # 0.5 -> 0
    tx(4, currency="USD", amount=Decimal("0.000001")),
    tx(5, currency="XAF", amount=Decimal("1000.000000")),  # no rate: unconverted
    tx(6, latitude=48.1, longitude=11.5),  # own position wins over the merchant's
    tx(7, card_number=None, card_token="tok_abc", card_bin="411111", card_last4="1111"),
    tx(
        8,
        card_number=None,
        merchant_id=None,
        merchant_mcc=None,
        merchant_country=None,
        merchant_latitude=None,
        merchant_longitude=None,
    ),
    tx(9, attributes='{"three_ds": "frictionless", "score": 3, "vip": true, "r": 0.5}'),
    tx(10, attributes='{"x": Infinity}', personal='{"name": "A"}'),
    tx(11, source=None, channel=None, ip_address=""),
    tx(12, device_id="d1", device_type="mobile", shipping_country="FR"),
    tx(13, extra_int=7, extra_text="hello"),
    tx(14, amount=Decimal("0.000000"), event_time=datetime(2026, 1, 5, 23, 59, tzinfo=UTC)),
]
BAD = [
    tx(20, transaction_id=""),  # empty id
    tx(21, transaction_id="x" * 129),
    tx(22, amount=Decimal("-1.000000")),
    tx(23, amount=None),
    tx(24, currency="ZZZ"),
    tx(25, card_number="4111111111111112"),  # fails Luhn
    tx(26, card_number=None, card_bin="4111"),  # no token or number, short BIN
    tx(27, card_last4="11a1"),
    tx(28, merchant_id=None),  # merchant fields without an id
    tx(29, merchant_mcc="54"),
    tx(30, merchant_country="de"),
    tx(31, merchant_latitude=95.0),
    tx(32, merchant_latitude=float("nan")),
    tx(33, latitude=10.0),  # latitude without longitude
    tx(34, channel="pigeon"),
    tx(35, billing_country="DEU"),
    tx(36, attributes='{"nested": {"a": 1}}'),
    tx(37, personal='{"age": 42}'),
    tx(38, device_type="mobile"),  # device without an id
    tx(39, event_time=None),
    tx(1),  # duplicate of the first
]
UNUSUAL = [tx(40, merchant_mcc="\uff15\uff14\uff11\uff11")]  # full-width digits: str.isdigit


def test_bad_and_unusual_rows_are_refused_or_accepted_as_by_the_per_row_reader(
    tmp_path: Path,
) -> None:
    schema = flat.TRANSACTION_SCHEMA.append(pa.field("extra_int", pa.int64())).append(
        pa.field("extra_text", pa.string())
    )
    rows = [GOOD[0], *BAD[:10], *GOOD[1:], *BAD[10:], *UNUSUAL]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "tx.parquet")
    labels = [
        {"transaction_id": "t1", "is_fraud": True, "fraud_type": "card_testing",
         "source": "chargeback", "event_time": T0, "known_at": T0 + timedelta(days=2)},
        {"transaction_id": "t2", "is_fraud": False, "fraud_type": "x", "source": None,
         "event_time": T0, "known_at": T0},
        {"transaction_id": "t3", "is_fraud": True, "fraud_type": None, "source": "analyst",
         "event_time": T0, "known_at": T0},
        {"transaction_id": "t4", "is_fraud": True, "fraud_type": "late", "source": "chargeback",
         "event_time": T0, "known_at": T0 - timedelta(days=1)},  # known before it happened
        {"transaction_id": "t5", "is_fraud": None, "fraud_type": None, "source": "chargeback",
         "event_time": T0, "known_at": T0},
        {"transaction_id": "t6", "is_fraud": True, "fraud_type": "y", "source": "oracle",
         "event_time": T0, "known_at": T0},
        {"transaction_id": "t1", "is_fraud": True, "fraud_type": "spree", "source": "analyst",
         "event_time": T0, "known_at": T0 + timedelta(days=3)},
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(labels, schema=flat.LABEL_SCHEMA), tmp_path / "l.parquet")

    per_row, columnar = both(tmp_path, batch_rows=8)
    assert columnar == per_row
    assert len(per_row["transactions"]) == len(GOOD) + len(UNUSUAL)
    assert sum(per_row["refused"].values()) == len(BAD) + 3  # three bad labels
    assert per_row["refused"]["duplicate"] == 1
    assert per_row["scenarios"] == {"t1": "spree"}
    attributes = {r[1]: r[-1] for r in per_row["transactions"]}
    assert attributes["t9"] == {"score": 3.0, "vip": 1.0, "r": 0.5}
    assert attributes["t13"] == {"extra_int": 7.0}
    slow = sum(
        len(b.slow or ()) for b in read_canonical_parquet(sorted(tmp_path.glob("*")), context())
    )
    assert slow == len(BAD) - 1 + len(UNUSUAL) + 3  # the duplicate itself is a valid row


def test_reporting_amounts_round_exactly_like_decimal() -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    currencies = ["EUR", "USD", "GBP", "JPY", "IDR", "XAF", "CHF", "KRW"]
    amounts = np.r_[rng.integers(0, 2**50, 3000), np.arange(0, 2000) * 81]
    codes = [currencies[i % len(currencies)] for i in range(len(amounts))]
    got = reporting_micro(amounts.astype(np.int64), codes).tolist()
    want = [
        to_reporting_micro(Decimal(int(a)) / 1_000_000, c)
        for a, c in zip(amounts.tolist(), codes, strict=True)
    ]
    assert got == want
