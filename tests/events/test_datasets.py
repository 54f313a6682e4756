"""The public-dataset formats: real headers, the events each row becomes, and every bad-row path."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fraudwatch.errors import ConfigError, FraudwatchError, RecordError
from fraudwatch.events.formats.base import IngestContext, Parsed, format_names, get_format
from fraudwatch.events.formats.datasets.sparkov import age_band
from fraudwatch.events.model import (
    Channel,
    Label,
    LabelSource,
    Transaction,
    decode_event,
    encode,
)
from fraudwatch.security.tokens import CardTokenizer, luhn_valid

DATASETS = Path(__file__).parent.parent / "data" / "datasets"


def read(fmt: str, location: Path | str, ctx: IngestContext, **options: str) -> list[Parsed]:
    if options:
        ctx = IngestContext(tokenizer=ctx.tokenizer, source=ctx.source, options=options)
    return list(get_format(fmt).read(str(location), ctx))


def transactions(records: list[Parsed]) -> dict[int, Transaction]:
    found = {r.position: r.events[0] for r in records if r.error is None}
    return {p: tx for p, tx in found.items() if isinstance(tx, Transaction)}


def labels(records: list[Parsed]) -> dict[int, Label]:
    found = {r.position: r.events[-1] for r in records if r.error is None}
    return {p: label for p, label in found.items() if isinstance(label, Label)}


def errors(records: list[Parsed]) -> dict[int, tuple[str, str | None]]:
    return {r.position: (r.error.reason, r.error.field) for r in records if r.error is not None}


def assert_one_record_per_row(records: list[Parsed], rows: int) -> None:
    assert [r.position for r in records] == list(range(1, rows + 1))
    assert all((r.error is None) != (not r.events) for r in records)
    assert len(transactions(records)) + len(errors(records)) == rows


def assert_dataset_labels(records: list[Parsed]) -> None:
    for record in records:
        if record.error is None:
            tx, label = record.events
            assert isinstance(tx, Transaction) and isinstance(label, Label)
            assert label.transaction_id == tx.transaction_id
            assert label.source is LabelSource.DATASET
            assert label.event_time == label.known_at == tx.event_time
            assert (label.fraud_type is None) == (not label.is_fraud)


def test_all_dataset_formats_are_registered() -> None:
    assert {"ulb", "handbook", "sparkov", "paysim", "ieee-cis"} <= set(format_names())


# --- ulb ---------------------------------------------------------------------------------------


def test_ulb_rows_become_transactions_and_labels(tokenizer: CardTokenizer) -> None:
    ctx = IngestContext(tokenizer=tokenizer)  # no source given: the dataset name
    records = read("ulb", DATASETS / "creditcard.csv", ctx)
    assert_one_record_per_row(records, 9)  # the trailing blank line is no row
    assert_dataset_labels(records)
    txs = transactions(records)
    assert sorted(tx.transaction_id for tx in txs.values()) == ["ulb-1", "ulb-2", "ulb-3", "ulb-9"]
    first = txs[1]
    assert first.event_time == datetime(2013, 9, 1, tzinfo=UTC)
    assert first.amount == Decimal("149.62") and first.currency == "EUR"
    assert first.source == "ulb" and first.card is None and first.customer_id is None
    assert len(first.attributes) == 28
    assert first.attributes["V1"] == -1.3598071336738
    assert first.attributes["V28"] == -0.0210530534538215
    assert txs[3].event_time == datetime(2013, 9, 1, 0, 6, 46, tzinfo=UTC)
    assert txs[3].amount == Decimal("0")
    assert txs[9].event_time == datetime(2013, 9, 2, 23, 59, 52, tzinfo=UTC)
    fraud = labels(records)
    assert fraud[3].is_fraud and fraud[3].fraud_type == "unknown"
    assert not fraud[1].is_fraud and fraud[1].fraud_type is None
    assert errors(records) == {
        4: ("missing_field", "Amount"),
        5: ("bad_number", "Amount"),
        6: ("bad_time", "Time"),
        7: ("unparseable", None),
        8: ("bad_number", "V28"),
    }


def test_ulb_start_source_and_gzip(tmp_path: Path, ctx: IngestContext) -> None:
    packed = tmp_path / "creditcard.csv.gz"
    packed.write_bytes(gzip.compress((DATASETS / "creditcard.csv").read_bytes()))
    records = read("ulb", packed, ctx, start="2020-01-01T00:00:00+01:00", source="kaggle")
    tx = transactions(records)[3]
    assert tx.event_time == datetime(2019, 12, 31, 23, 6, 46, tzinfo=UTC)
    assert tx.source == "kaggle"
    assert len(records) == 9


def test_ulb_raw_is_the_csv_row(ctx: IngestContext) -> None:
    line = (DATASETS / "creditcard.csv").read_text().splitlines()[1]
    record = read("ulb", DATASETS / "creditcard.csv", ctx)[0]
    assert record.raw == line.replace('"0"', "0")


def test_bad_start_option_is_a_config_error(ctx: IngestContext) -> None:
    with pytest.raises(ConfigError, match="start"):
        read("ulb", DATASETS / "creditcard.csv", ctx, start="September")


# --- handbook ----------------------------------------------------------------------------------


def test_handbook_csv(ctx: IngestContext, tokenizer: CardTokenizer) -> None:
    records = read("handbook", DATASETS / "handbook.csv", ctx)
    assert_one_record_per_row(records, 12)
    assert_dataset_labels(records)
    tx = transactions(records)[1]
    assert tx.transaction_id == "handbook-0"
    assert tx.event_time == datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)
    assert tx.amount == Decimal("57.16") and tx.currency == "EUR" and tx.source == "test"
    assert tx.customer_id == "596" and tx.terminal_id == "3156"
    assert tx.merchant is not None and tx.merchant.id == "3156"
    assert tx.card == tokenizer.card_from_key("handbook", "596")
    kinds = {p: (label.is_fraud, label.fraud_type) for p, label in labels(records).items()}
    assert kinds == {
        1: (False, None),
        2: (False, None),
        3: (False, None),
        4: (True, "high_amount"),
        5: (True, "compromised_terminal"),
        6: (True, "compromised_card"),
    }
    assert errors(records) == {
        7: ("missing_field", "TX_AMOUNT"),
        8: ("bad_number", "TX_AMOUNT"),
        9: ("bad_time", "TX_DATETIME"),
        10: ("unparseable", None),
        11: ("missing_field", "CUSTOMER_ID"),
        12: ("bad_value", "TX_FRAUD"),
    }


def test_handbook_options(ctx: IngestContext) -> None:
    records = read("handbook", DATASETS / "handbook.csv", ctx, currency="usd", id_prefix="")
    tx = transactions(records)[4]
    assert tx.transaction_id == "1415" and tx.currency == "USD"


def _handbook_parquet(path: Path, first: int = 0) -> None:
    table = pa.table(
        {
            "TRANSACTION_ID": pa.array([first, first + 1, first + 2], pa.int64()),
            "TX_DATETIME": pa.array(
                [datetime(2018, 4, 1, 0, 0, 31), datetime(2018, 4, 1, 7, 42, 19), None],
                pa.timestamp("ns"),
            ),
            "CUSTOMER_ID": pa.array(["596", "4961", "2"]),
            "TERMINAL_ID": pa.array(["3156", "1890", "1365"]),
            "TX_AMOUNT": pa.array([57.16, 258.95, 146.0], pa.float32()),
            "TX_TIME_SECONDS": pa.array([31, 27739, 476]),
            "TX_TIME_DAYS": pa.array([0, 0, 0]),
            "TX_FRAUD": pa.array([0, 1, 0], pa.int8()),
            "TX_FRAUD_SCENARIO": pa.array([0, 1, 0], pa.int8()),
            "__index_level_0__": pa.array([first, first + 1, first + 2]),
        }
    )
    pq.write_table(table, path)


def test_handbook_parquet(tmp_path: Path, ctx: IngestContext) -> None:
    _handbook_parquet(tmp_path / "2018-04-01.parquet")
    records = read("handbook", tmp_path / "2018-04-01.parquet", ctx)
    assert_one_record_per_row(records, 3)
    assert_dataset_labels(records)
    csv_txs = transactions(read("handbook", DATASETS / "handbook.csv", ctx))
    txs = transactions(records)
    assert txs[1] == csv_txs[1]
    assert txs[2].amount == Decimal("258.95") and txs[2].event_time == csv_txs[4].event_time
    assert labels(records)[2].fraud_type == "high_amount"
    assert errors(records) == {3: ("missing_field", "TX_DATETIME")}


def test_handbook_parquet_folder_reads_every_file_in_order(
    tmp_path: Path, ctx: IngestContext
) -> None:
    _handbook_parquet(tmp_path / "2018-04-01.parquet", first=0)
    _handbook_parquet(tmp_path / "2018-04-02.parquet", first=3)
    ids = [tx.transaction_id for tx in transactions(read("handbook", tmp_path, ctx)).values()]
    assert ids == ["handbook-0", "handbook-1", "handbook-3", "handbook-4"]


def test_handbook_pickles_are_refused(tmp_path: Path, ctx: IngestContext) -> None:
    (tmp_path / "2018-04-01.pkl").write_bytes(b"\x80\x04K\x01.")
    for location in (tmp_path, tmp_path / "2018-04-01.pkl"):
        with pytest.raises(FraudwatchError, match="pickle"):
            read("handbook", location, ctx)


# --- sparkov -----------------------------------------------------------------------------------


def test_sparkov_rows(ctx: IngestContext, tokenizer: CardTokenizer) -> None:
    records = read("sparkov", DATASETS / "fraudTrain.csv", ctx)
    assert_one_record_per_row(records, 10)
    assert_dataset_labels(records)
    txs = transactions(records)
    tx = txs[1]
    assert tx.transaction_id == "0b242abb623afc578575680df30655b9"
    assert tx.event_time == datetime(2019, 1, 1, 0, 0, 18, tzinfo=UTC)
    assert tx.amount == Decimal("4.97") and tx.currency == "USD" and tx.billing_country == "US"
    assert tx.card == tokenizer.card_from_number("2703186189652095")
    assert tx.card is not None and tx.card.bin == "270318" and tx.card.last4 == "2095"
    assert tx.customer_id is not None and tx.card.token is not None
    assert tx.customer_id == "cust_" + tx.card.token.removeprefix("tok_")
    assert tx.merchant is not None and tx.merchant.name == "Rippin, Kub and Mann"
    assert tx.merchant.mcc == "5969" and tx.channel is Channel.ECOMMERCE
    assert (tx.latitude, tx.longitude) == (36.011293, -82.048315)
    assert tx.customer_name == "Jennifer Banks"
    assert tx.personal == {
        "street": "561 Perry Cove",
        "city": "Moravian Falls",
        "zip": "28654",
        "dob": "1988-03-09",
        "job": "Psychologist, counselling",
    }
    assert tx.attributes == {
        "category": "misc_net",
        "gender": "F",
        "state": "NC",
        "city_pop": 3495,
        "home_latitude": 36.0788,
        "home_longitude": -81.1781,
        "age_band": "26-35",
    }
    assert txs[2].channel is Channel.CARD_PRESENT
    assert txs[2].merchant is not None and txs[2].merchant.mcc == "5411"
    assert txs[3].attributes["age_band"] == "56-65"
    assert txs[5].attributes["age_band"] == "<18"


def test_sparkov_accepts_a_card_number_failing_luhn(ctx: IngestContext) -> None:
    assert not luhn_valid("375534208663985")
    tx = transactions(read("sparkov", DATASETS / "fraudTrain.csv", ctx))[5]
    assert tx.card is not None and tx.card.last4 == "3985"
    assert labels(read("sparkov", DATASETS / "fraudTrain.csv", ctx))[5].is_fraud


def test_luhn_check_can_be_waived_per_call(tokenizer: CardTokenizer) -> None:
    card = tokenizer.card_from_number("4111111111111112", check_luhn=False)
    assert card.last4 == "1112"
    with pytest.raises(RecordError):
        tokenizer.card_from_number("4111111111111112")


def test_sparkov_merchant_id_is_stable_and_ignores_the_prefix(ctx: IngestContext) -> None:
    txs = transactions(read("sparkov", DATASETS / "fraudTrain.csv", ctx))
    assert txs[3].merchant is not None and txs[3].merchant.name == "Lind-Buckridge"
    again = transactions(read("sparkov", DATASETS / "fraudTrain.csv", ctx))
    assert again[3].merchant == txs[3].merchant
    assert txs[1].merchant is not None and txs[3].merchant.id != txs[1].merchant.id
    assert "fraud" not in txs[3].merchant.id


def test_sparkov_errors_and_raw(ctx: IngestContext) -> None:
    records = read("sparkov", DATASETS / "fraudTrain.csv", ctx)
    assert errors(records) == {
        6: ("missing_field", "amt"),
        7: ("bad_number", "amt"),
        8: ("bad_time", "trans_date_trans_time"),
        9: ("unparseable", None),
        10: ("bad_card_number", "cc_num"),
    }
    lines = (DATASETS / "fraudTrain.csv").read_text().splitlines()
    assert records[0].raw == lines[1]  # quoted cells are quoted again


@pytest.mark.parametrize(
    ("born", "on", "band"),
    [
        ("2001-01-02", "2019-01-01", "<18"),
        ("2001-01-01", "2019-01-01", "18-25"),
        ("1993-01-01", "2019-01-01", "26-35"),
        ("1953-06-01", "2019-06-01", "66-75"),
        ("1930-01-01", "2020-01-01", "76+"),
    ],
)
def test_age_band(born: str, on: str, band: str) -> None:
    assert age_band(datetime.fromisoformat(born).date(), datetime.fromisoformat(on).date()) == band


# --- paysim ------------------------------------------------------------------------------------


def test_paysim_rows(ctx: IngestContext) -> None:
    records = read("paysim", DATASETS / "paysim.csv", ctx)
    assert_one_record_per_row(records, 11)
    assert_dataset_labels(records)
    txs = transactions(records)
    payment = txs[1]
    assert payment.transaction_id == "paysim-1"
    assert payment.event_time == datetime(2016, 9, 1, 1, tzinfo=UTC)
    assert payment.amount == Decimal("9839.64") and payment.currency == "USD"
    assert payment.customer_id == payment.account_id == "C1231006815"
    assert payment.merchant is not None and payment.merchant.id == "M1979787155"
    assert payment.channel is Channel.WALLET
    assert payment.attributes == {
        "transaction_type": "PAYMENT",
        "counterparty_id": "M1979787155",
        "old_balance_orig": 170136.0,
        "new_balance_orig": 160296.36,
        "old_balance_dest": 0.0,
        "new_balance_dest": 0.0,
        "is_flagged_fraud": False,
    }
    channels = {p: tx.channel for p, tx in txs.items()}
    assert channels == {
        1: Channel.WALLET,
        2: Channel.TRANSFER,
        3: Channel.ATM,
        4: Channel.TRANSFER,
        5: Channel.ATM,
        6: Channel.TRANSFER,
    }
    assert txs[2].merchant is None and txs[2].attributes["counterparty_id"] == "C553264065"
    assert txs[6].event_time == datetime(2016, 9, 9, 20, tzinfo=UTC)
    assert txs[6].attributes["is_flagged_fraud"] is True
    assert labels(records)[2].fraud_type == "account_takeover"
    assert errors(records) == {
        7: ("bad_value", "type"),
        8: ("bad_time", "step"),
        9: ("missing_field", "amount"),
        10: ("bad_number", "amount"),
        11: ("unparseable", None),
    }


def test_paysim_start_and_currency(ctx: IngestContext) -> None:
    records = read("paysim", DATASETS / "paysim.csv", ctx, start="2017-01-01", currency="KES")
    tx = transactions(records)[5]
    assert tx.event_time == datetime(2017, 1, 1, 9, tzinfo=UTC) and tx.currency == "KES"


# --- ieee-cis ----------------------------------------------------------------------------------


def test_ieee_train_with_identity_found_beside_it(
    tmp_path: Path, ctx: IngestContext, tokenizer: CardTokenizer
) -> None:
    records = read("ieee-cis", DATASETS / "train_transaction.csv", ctx)
    assert_one_record_per_row(records, 9)
    assert_dataset_labels(records)
    txs = transactions(records)
    first = txs[1]
    assert first.transaction_id == "ieee-cis-2987000"
    assert first.event_time == datetime(2017, 12, 2, tzinfo=UTC)
    assert first.amount == Decimal("68.5") and first.currency == "USD"
    assert first.channel is Channel.ECOMMERCE and first.device is None
    assert first.card == tokenizer.card_from_key("ieee-cis", "13926||150.0|142.0|credit")
    attributes = first.attributes
    assert attributes["card1"] == 13926.0 and "card2" not in attributes
    assert attributes["card4"] == "discover" and attributes["ProductCD"] == "W"
    assert attributes["C1"] == 1.0 and attributes["D1"] == 14.0 and "D2" not in attributes
    assert attributes["M1"] is True and attributes["M5"] is False and attributes["M4"] == "M2"
    assert attributes["V1"] == 1.0 and attributes["V127"] == 117.0
    assert not {"isFraud", "TransactionID", "TransactionDT", "TransactionAmt"} & set(attributes)
    joined = txs[3]
    assert joined.device is not None and joined.device.type == "mobile"
    assert joined.device.os == "Android 7.0" and joined.device.id.startswith("dev_")
    assert joined.attributes["id_02"] == 70787.0 and joined.attributes["id_12"] == "NotFound"
    assert joined.attributes["id_35"] is True and joined.attributes["id_36"] is False
    assert joined.attributes["id_31"] == "samsung browser 6.2"
    assert joined.attributes["DeviceInfo"] == "SAMSUNG SM-G892A Build/NRD90M"
    assert labels(records)[4].is_fraud and labels(records)[4].fraud_type == "unknown"
    assert errors(records) == {
        5: ("bad_number", "TransactionAmt"),
        6: ("missing_field", "TransactionDT"),
        7: ("bad_number", "V5"),
        8: ("bad_value", "M1"),
        9: ("unparseable", None),
    }


def test_ieee_identity_option(tmp_path: Path, ctx: IngestContext) -> None:
    alone = tmp_path / "transactions.csv"
    shutil.copy(DATASETS / "train_transaction.csv", alone)
    assert transactions(read("ieee-cis", alone, ctx))[3].device is None
    joined = read("ieee-cis", alone, ctx, identity=str(DATASETS / "train_identity.csv"))
    assert transactions(joined)[3].device is not None
    off = read("ieee-cis", DATASETS / "train_transaction.csv", ctx, identity="none")
    assert transactions(off)[3].device is None and "id_02" not in transactions(off)[3].attributes
    with pytest.raises(FraudwatchError, match="identity"):
        read("ieee-cis", alone, ctx, identity=str(tmp_path / "missing.csv"))


def test_ieee_gzipped_pair_is_joined(tmp_path: Path, ctx: IngestContext) -> None:
    for name in ("train_transaction.csv", "train_identity.csv"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress((DATASETS / name).read_bytes()))
    txs = transactions(read("ieee-cis", tmp_path / "train_transaction.csv.gz", ctx))
    assert txs[3].device is not None and txs[4].device is not None


def test_ieee_test_file_has_no_labels_and_hyphenated_identity(ctx: IngestContext) -> None:
    records = read("ieee-cis", DATASETS / "test_transaction.csv", ctx)
    assert [len(r.events) for r in records] == [1, 1]
    txs = transactions(records)
    assert txs[1].event_time == datetime(2018, 7, 2, 0, 0, 24, tzinfo=UTC)
    assert txs[1].attributes["card6"] == "debit" and txs[1].device is None
    device = txs[2].device
    assert device is not None and device.os == "Android 6.0.1"
    assert txs[2].attributes["id_01"] == -45.0 and txs[2].attributes["id_38"] is False
    assert not any(name.startswith("id-") for name in txs[2].attributes)


# --- shared behaviour --------------------------------------------------------------------------

FILES = {
    "ulb": ("creditcard.csv", "Class"),
    "handbook": ("handbook.csv", "TX_AMOUNT"),
    "sparkov": ("fraudTrain.csv", "trans_num"),
    "paysim": ("paysim.csv", "nameOrig"),
    "ieee-cis": ("train_transaction.csv", "TransactionDT"),
}


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_missing_header_column_is_a_whole_file_error(
    fmt: str, tmp_path: Path, ctx: IngestContext
) -> None:
    name, column = FILES[fmt]
    lines = (DATASETS / name).read_text().splitlines()
    header = [cell for cell in lines[0].split(",") if cell.strip('"') != column]
    broken = tmp_path / name
    broken.write_text(",".join(header) + "\n" + "\n".join(lines[1:]) + "\n")
    records = get_format(fmt).read(
        str(broken), IngestContext(tokenizer=ctx.tokenizer, options={"identity": "none"})
    )
    with pytest.raises(FraudwatchError, match=column) as info:
        next(iter(records))
    assert info.value.code == "bad_layout"


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_progress_reaches_the_file_size(fmt: str, tokenizer: CardTokenizer) -> None:
    seen: list[tuple[int, int | None]] = []
    ctx = IngestContext(
        tokenizer=tokenizer, progress=lambda done, total: seen.append((done, total))
    )
    path = DATASETS / FILES[fmt][0]
    list(get_format(fmt).read(str(path), ctx))
    size = path.stat().st_size
    assert seen and seen[-1] == (size, size)


def test_bad_bytes_and_oversized_cells_are_dead_letters_not_crashes(
    tmp_path: Path, ctx: IngestContext
) -> None:
    lines = (DATASETS / "paysim.csv").read_bytes().splitlines()
    huge = b"1,PAYMENT,1.0,C1," + b"9" * 200_000 + b",0.0,M1,0.0,0.0,0,0"
    bad = b"1,PAYMENT,1.0,C\xff\xfe,0.0,0.0,M1,0.0,0.0,0,0"
    path = tmp_path / "paysim.csv"
    path.write_bytes(b"\n".join([lines[0], lines[1], bad, huge, lines[2]]) + b"\n")
    records = read("paysim", path, ctx)
    assert [r.position for r in records] == [1, 2, 3, 4]
    assert errors(records) == {2: ("unparseable", None), 3: ("unparseable", None)}
    assert "\ufffd" in records[1].raw
    assert transactions(records)[4].transaction_id == "paysim-4"


def test_byte_order_mark_before_a_quoted_header_is_skipped(
    tmp_path: Path, ctx: IngestContext
) -> None:
    path = tmp_path / "creditcard.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (DATASETS / "creditcard.csv").read_bytes())
    assert len(transactions(read("ulb", path, ctx))) == 4


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_events_survive_the_canonical_encoding(fmt: str, ctx: IngestContext) -> None:
    for record in read(fmt, DATASETS / FILES[fmt][0], ctx):
        for event in record.events:
            assert decode_event(encode(event)) == event


def test_missing_or_corrupt_files_are_whole_file_errors(tmp_path: Path, ctx: IngestContext) -> None:
    with pytest.raises(FraudwatchError):
        read("paysim", tmp_path / "nowhere.csv", ctx)
    corrupt = tmp_path / "day.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(FraudwatchError, match="Parquet"):
        read("handbook", corrupt, ctx)
    truncated = tmp_path / "paysim.csv.gz"
    truncated.write_bytes(gzip.compress((DATASETS / "paysim.csv").read_bytes())[:-30])
    with pytest.raises(FraudwatchError, match="corrupt or truncated"):
        read("paysim", truncated, ctx)


def test_an_empty_file_is_a_whole_file_error(tmp_path: Path, ctx: IngestContext) -> None:
    empty = tmp_path / "creditcard.csv"
    empty.write_text("")
    with pytest.raises(FraudwatchError, match="empty"):
        read("ulb", empty, ctx)
