"""The `sql` format against a SQLite file: incremental reads by watermark, ties, checkpoints."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fraudwatch.errors import ConfigError, FraudwatchError
from fraudwatch.events.formats.base import IngestContext, Parsed, get_format
from fraudwatch.events.model import Transaction
from fraudwatch.security.tokens import CardTokenizer

PAN = "4111111111111111"
T0 = datetime(2026, 11, 23, 10, 0)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bank.db'}"


@pytest.fixture
def payments(url: str) -> Iterator[sa.Table]:
    engine = sa.create_engine(url)
    table = sa.Table(
        "payments",
        sa.MetaData(),
        sa.Column("row_id", sa.Integer, primary_key=True),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("event_time", sa.DateTime),
        sa.Column("amount", sa.Numeric(14, 3)),
        sa.Column("currency", sa.String(3)),
        sa.Column("card_number", sa.String(19)),
        sa.Column("merchant_id", sa.String(32)),
        sa.Column("updated_seq", sa.Integer),
        sa.Column("channel_code", sa.String(8)),
        sa.Column("risk", sa.Numeric(6, 4)),
    )
    table.metadata.create_all(engine)
    yield table
    engine.dispose()


def insert(url: str, table: sa.Table, *rows: dict[str, Any]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(table.insert(), list(rows))
    engine.dispose()


def row(n: int, seq: int, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "row_id": n,
        "transaction_id": f"tx-{n}",
        "event_time": T0 + timedelta(minutes=n),
        "amount": Decimal("12.500"),
        "currency": "EUR",
        "card_number": PAN,
        "merchant_id": "M-1",
        "updated_seq": seq,
        "channel_code": "POS",
        "risk": Decimal("0.25"),
    }
    return values | changes


class Runs:
    """Runs the format like the pipeline does: saves each record's checkpoint after it is read."""

    def __init__(self, url: str, tokenizer: CardTokenizer, **options: str) -> None:
        self.url = url
        self.tokenizer = tokenizer
        self.options = {"table": "payments", "watermark": "updated_seq", **options}
        self.saved: dict[str, str] = {}

    def run(self, *, stop_after: int | None = None, **options: str) -> list[Parsed]:
        ctx = IngestContext(
            tokenizer=self.tokenizer,
            options={**self.options, **options},
            checkpoints=dict(self.saved),
        )
        parsed: list[Parsed] = []
        for record in get_format("sql").read(self.url, ctx):
            parsed.append(record)
            assert record.checkpoint is not None
            self.saved[record.checkpoint[0]] = record.checkpoint[1]
            if stop_after is not None and len(parsed) == stop_after:
                break
        return parsed


def ids(parsed: list[Parsed]) -> list[str]:
    return [p.events[0].transaction_id for p in parsed if p.events]  # type: ignore[union-attr]


def test_reads_rows_with_the_default_mapping(
    url: str, payments: sa.Table, tokenizer: CardTokenizer
) -> None:
    insert(url, payments, row(1, 1))
    (parsed,) = Runs(url, tokenizer).run()
    tx = parsed.events[0]
    assert isinstance(tx, Transaction)
    assert (tx.transaction_id, tx.amount, tx.currency, tx.source) == (
        "tx-1",
        Decimal("12.5"),
        "EUR",
        "sql",
    )
    assert tx.event_time == datetime(2026, 11, 23, 10, 1, tzinfo=UTC)  # naive: UTC by default
    assert tx.card is not None and tx.card.last4 == "1111" and tx.card.number is None
    assert tx.attributes == {"row_id": 1, "updated_seq": 1, "channel_code": "POS", "risk": 0.25}
    assert PAN in parsed.raw and parsed.position == 1
    assert parsed.checkpoint == ("sql:payments:updated_seq", "[1,1]")


def test_second_run_resumes_after_the_checkpoint(
    url: str, payments: sa.Table, tokenizer: CardTokenizer
) -> None:
    insert(url, payments, *(row(n, n) for n in range(1, 6)))
    runs = Runs(url, tokenizer, batch_size="2")
    assert ids(runs.run()) == [f"tx-{n}" for n in range(1, 6)]
    assert runs.run() == []
    insert(url, payments, row(6, 6), row(7, 7))
    assert ids(runs.run()) == ["tx-6", "tx-7"]


def test_ties_on_the_watermark_across_batches_and_runs(
    url: str, payments: sa.Table, tokenizer: CardTokenizer
) -> None:
    insert(url, payments, *(row(n, 10) for n in range(1, 6)), row(6, 11))
    runs = Runs(url, tokenizer, batch_size="2")
    assert ids(runs.run(stop_after=3)) == ["tx-1", "tx-2", "tx-3"]  # stopped inside the tie
    assert ids(runs.run()) == ["tx-4", "tx-5", "tx-6"]  # nothing skipped, nothing repeated
    insert(url, payments, row(7, 11), row(8, 12))  # one more row at the last watermark value
    assert ids(runs.run()) == ["tx-7", "tx-8"]


def test_unsaved_records_are_read_again(
    url: str, payments: sa.Table, tokenizer: CardTokenizer
) -> None:
    insert(url, payments, *(row(n, n) for n in range(1, 4)))
    runs = Runs(url, tokenizer)
    runs.run(stop_after=2)
    runs.saved = {}  # the batch was never stored: its checkpoint was never saved
    assert ids(runs.run()) == ["tx-1", "tx-2", "tx-3"]  # at-least-once


def test_bad_rows_are_dead_letters_that_still_advance(
    url: str, payments: sa.Table, tokenizer: CardTokenizer
) -> None:
    insert(
        url,
        payments,
        row(1, 1, amount=None),
        row(2, 2, currency="XXX"),
        row(3, 3, card_number="4111111111111112"),
        row(4, 4, event_time=None),
        row(5, 5),
    )
    runs = Runs(url, tokenizer)
    parsed = runs.run()
    assert [(p.error.reason, p.error.field) for p in parsed if p.error] == [
        ("missing_field", "amount"),
        ("unknown_currency", "currency"),
        ("bad_card_number", "card_number"),
        ("missing_field", "event_time"),
    ]
    assert ids(parsed) == ["tx-5"] and runs.run() == []


def test_mapping_names_columns_and_errors_name_the_column(
    url: str, payments: sa.Table, tokenizer: CardTokenizer, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("channel: channel_code\ncard_number: null\ncard_key: card_number\n")
    insert(url, payments, row(1, 1, channel_code="ecommerce"), row(2, 2, channel_code="POS"))
    parsed = Runs(url, tokenizer, mapping=str(mapping), source="core-banking").run()
    tx = parsed[0].events[0]
    assert isinstance(tx, Transaction)
    assert tx.channel == "ecommerce" and tx.source == "core-banking"
    assert (
        tx.card is not None and tx.card.token == tokenizer.card_from_key("core-banking", PAN).token
    )
    assert parsed[1].error is not None and parsed[1].error.field == "channel_code"


def test_table_without_primary_key_orders_ties_by_transaction_id(
    url: str, tokenizer: CardTokenizer
) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE payments (transaction_id TEXT, event_time TEXT, amount TEXT,"
                " currency TEXT, updated_seq INTEGER)"
            )
        )
        insert_row = sa.text(
            "INSERT INTO payments VALUES (:id, '2026-11-23T10:00:00+01:00', '1.00', 'EUR', 1)"
        )
        for tx_id in ("c", "a", "b"):
            connection.execute(insert_row, {"id": tx_id})
    engine.dispose()
    runs = Runs(url, tokenizer, batch_size="1")
    parsed = runs.run()
    assert ids(parsed) == ["a", "b", "c"]
    assert parsed[0].events[0].event_time == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # type: ignore[union-attr]
    assert parsed[-1].checkpoint == ("sql:payments:updated_seq", '[1,"c"]')


def test_naive_times_use_the_timezone_option(
    url: str, payments: sa.Table, tokenizer: CardTokenizer
) -> None:
    insert(url, payments, row(1, 1))
    (parsed,) = Runs(url, tokenizer, timezone="Europe/Berlin").run()
    assert parsed.events[0].event_time == datetime(2026, 11, 23, 9, 1, tzinfo=UTC)  # type: ignore[union-attr]


def test_datetime_watermark_and_null_watermarks(
    url: str, payments: sa.Table, tokenizer: CardTokenizer, caplog: pytest.LogCaptureFixture
) -> None:
    insert(url, payments, row(1, 1), row(2, 2), row(3, None))
    runs = Runs(url, tokenizer, watermark="event_time", batch_size="1")
    with caplog.at_level(logging.WARNING):
        assert ids(runs.run()) == ["tx-1", "tx-2", "tx-3"]
    assert runs.saved == {"sql:payments:event_time": '["2026-11-23T10:03:00",3]'}
    insert(url, payments, row(4, 4, event_time=None))
    with caplog.at_level(logging.WARNING):
        assert runs.run() == []
    assert "1 row(s) of payments have a NULL event_time" in caplog.text


def test_progress_counts_rows(url: str, payments: sa.Table, tokenizer: CardTokenizer) -> None:
    insert(url, payments, *(row(n, n) for n in range(1, 6)))
    seen: list[tuple[int, int | None]] = []
    ctx = IngestContext(
        tokenizer=tokenizer,
        options={"table": "payments", "watermark": "updated_seq", "batch_size": "2"},
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(list(get_format("sql").read(url, ctx))) == 5
    assert seen == [(2, 5), (4, 5), (5, 5)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"table": ""}, "needs the options table and watermark"),
        ({"table": "nope"}, "no table 'nope'"),
        ({"watermark": "nope"}, "no watermark column 'nope'"),
        ({"batch_size": "0"}, "batch_size must be a positive integer"),
    ],
)
def test_bad_options_fail_the_run(
    url: str, payments: sa.Table, tokenizer: CardTokenizer, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Runs(url, tokenizer).run(**options)


def test_bad_checkpoint_and_bad_url(url: str, payments: sa.Table, tokenizer: CardTokenizer) -> None:
    runs = Runs(url, tokenizer)
    runs.saved = {"sql:payments:updated_seq": "[1]"}
    with pytest.raises(ConfigError, match="unusable"):
        runs.run()
    with pytest.raises(ConfigError, match="not a SQLAlchemy database URL"):
        Runs("not a url", tokenizer).run()
    with pytest.raises(FraudwatchError):
        Runs("sqlite:////nonexistent/dir/x.db", tokenizer).run()
