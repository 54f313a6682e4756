"""The canonical layouts: JSON Lines of tagged events (`json`) and flat Parquet (`parquet`).

`json` reads what `fraudwatch simulate --format json` writes and what the scoring API accepts:
one event per line, `{"type": "transaction" | "label" | "login", ...}` (a line without `type` is a
transaction). A card number in `card.number` is tokenised on the way in and goes no further.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pyarrow.parquet as pq

from fraudwatch.errors import FraudwatchError, RecordError
from fraudwatch.events.deadletter import from_validation_error
from fraudwatch.events.flat import nest_login, nest_transaction
from fraudwatch.events.formats.base import IngestContext, Parsed, register_format
from fraudwatch.events.formats.textio import open_text
from fraudwatch.events.model import Event, Label, Login, Transaction
from fraudwatch.security.tokens import CardTokenizer

_union = msgspec.json.Decoder(Event)
_tx = msgspec.json.Decoder(Transaction)


def tokenize_card(tx: Transaction, tokenizer: CardTokenizer) -> Transaction:
    """Replace an input card number by its token, BIN and last four."""
    card = tx.card
    if card is not None and card.number is not None:
        tx.card = tokenizer.card_from_number(card.number)
    return tx


def _finish(event: Event, ctx: IngestContext) -> Event:
    if isinstance(event, Transaction):
        return tokenize_card(event, ctx.tokenizer)
    return event


@register_format
class CanonicalJson:
    name: ClassVar[str] = "json"
    summary: ClassVar[str] = "canonical events as JSON Lines (what `simulate --format json` writes)"

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        with open_text(location, ctx.progress) as handle:
            for position, line in enumerate(handle, start=1):
                text = line.rstrip("\r\n")
                if not text.strip():
                    yield Parsed(position, text, error=RecordError("unparseable", "empty line"))
                    continue
                yield self._parse(position, text, ctx)

    @staticmethod
    def _parse(position: int, text: str, ctx: IngestContext) -> Parsed:
        decoder = _union if '"type"' in text else _tx
        try:
            event = decoder.decode(text)
            return Parsed(position, text, events=(_finish(event, ctx),))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return Parsed(position, text, error=from_validation_error(exc))
        except RecordError as exc:
            return Parsed(position, text, error=exc)


@register_format
class CanonicalParquet:
    """Flat canonical Parquet: transactions, labels or logins, told apart by their columns."""

    name: ClassVar[str] = "parquet"
    summary: ClassVar[str] = "canonical flat Parquet (transactions, labels or logins)"

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        path = Path(location)
        if path.is_dir():
            files = sorted(path.glob("*.parquet"))
            if not files:
                raise FraudwatchError(f"{location}: no .parquet files in this directory")
        else:
            files = [path]
        position = 0
        for file in files:
            parquet = pq.ParquetFile(file)
            kind = _kind(parquet.schema_arrow.names, file)
            total = parquet.metadata.num_rows
            done = 0
            for batch in parquet.iter_batches(batch_size=8192):
                for row in batch.to_pylist():
                    position += 1
                    yield _parse_row(position, row, kind, ctx)
                done += batch.num_rows
                ctx.progress(done, total)


def _kind(columns: list[str], file: Path) -> type[Transaction] | type[Label] | type[Login]:
    if "login_id" in columns:
        return Login
    if "is_fraud" in columns and "amount" not in columns:
        return Label
    if "transaction_id" in columns and "amount" in columns:
        return Transaction
    raise FraudwatchError(
        f"{file}: not a canonical Parquet file (needs transaction_id+amount, "
        "transaction_id+is_fraud or login_id columns)"
    )


def _parse_row(
    position: int,
    row: dict[str, Any],
    kind: type[Transaction] | type[Label] | type[Login],
    ctx: IngestContext,
) -> Parsed:
    raw = msgspec.json.encode(row).decode()
    try:
        if kind is Transaction:
            tx = msgspec.convert(nest_transaction(row), Transaction)
            return Parsed(position, raw, events=(tokenize_card(tx, ctx.tokenizer),))
        if kind is Login:
            return Parsed(position, raw, events=(msgspec.convert(nest_login(row), Login),))
        fields = {k: v for k, v in row.items() if v is not None}
        return Parsed(position, raw, events=(msgspec.convert(fields, Label),))
    except msgspec.ValidationError as exc:
        return Parsed(position, raw, error=from_validation_error(exc))
    except RecordError as exc:
        return Parsed(position, raw, error=exc)
