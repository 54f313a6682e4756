"""The ingestion use case against the real embedded store: counts always add up."""

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from fraudwatch.errors import RecordError
from fraudwatch.events.formats.base import IngestContext, Parsed, get_format
from fraudwatch.events.ingest import Ingestion
from fraudwatch.events.model import encode
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage.store import EventStore, open_store
from tests.conftest import make_transaction

GOOD = [
    '{"type":"transaction","transaction_id":"a1","event_time":"2026-02-01T10:00:00Z",'
    '"amount":"10.00","currency":"EUR","card":{"number":"4111111111111111"},'
    '"customer_name":"Jane Doe"}',
    '{"transaction_id":"a2","event_time":"2026-02-01T10:05:00+01:00","amount":7,"currency":"USD"}',
    '{"type":"label","transaction_id":"a1","is_fraud":true,"event_time":"2026-02-01T10:00:00Z",'
    '"known_at":"2026-02-20T00:00:00Z","source":"chargeback","fraud_type":"card_testing"}',
    '{"type":"login","login_id":"l1","customer_id":"c1","event_time":"2026-02-01T09:59:00Z",'
    '"ip_address":"203.0.113.9","country":"FR","success":true}',
]
BAD = {
    '{"transaction_id":"b1","event_time":"2026-02-01T10:00:00Z","currency":"EUR"}': "missing_field",
    '{"transaction_id":"b2","event_time":"2026-02-01T10:00:00Z","amount":"1","currency":"EUX"}': (
        "unknown_currency"
    ),
    '{"transaction_id":"b3","event_time":"yesterday","amount":"1","currency":"EUR"}': "bad_time",
    '{"transaction_id":"b4","event_time":"2026-02-01T10:00:00Z","amount":"ten","currency":"EUR"}': (
        "bad_number"
    ),
    '{"transaction_id":"b5","event_time":"2026-02-01T10:00:00Z","amount":"1","currency":"EUR",'
    '"card":{"number":"4111111111111112"}}': "bad_card_number",
    '{"transaction_id":"b6", "event_time": ': "unparseable",
    '{"transaction_id":"a1","event_time":"2026-02-01T10:00:00Z","amount":"99.00","currency":"EUR",'
    '"card":{"number":"4111111111111111"},"customer_name":"Jane Doe"}': "duplicate_conflict",
}


@pytest.fixture
def store(tmp_path: Path, keyring: KeyRing) -> Iterator[EventStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'fw.db'}", keyring)
    opened.migrate()
    yield opened
    opened.close()


def _run(store: EventStore, ctx: IngestContext, path: Path, batch_size: int = 3):  # type: ignore[no-untyped-def]
    ingestion = Ingestion(store, source="bank-a", format="json", batch_size=batch_size)
    return ingestion.run(get_format("json").read(str(path), ctx))


def test_counts_add_up_and_bad_records_are_dead_lettered(
    tmp_path: Path, store: EventStore, ctx: IngestContext
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join([*GOOD, *BAD, GOOD[0]]) + "\n")
    report = _run(store, ctx, path)
    assert report.read == len(GOOD) + len(BAD) + 1
    assert report.accepted == len(GOOD)
    assert report.duplicates == 1  # GOOD[0] repeated with the same content
    assert report.dead_lettered == len(BAD)
    assert report.balanced
    assert dict(report.by_reason) == {reason: 1 for reason in BAD.values()}
    letters = store.dead_letters(limit=100)
    assert sorted(letter.reason for letter in letters) == sorted(BAD.values())
    conflict = next(letter for letter in letters if letter.reason == "duplicate_conflict")
    assert conflict.position == len(GOOD) + 7 and conflict.source == "bank-a"
    assert "4111111111111112" not in str(msgspec.to_builtins(store.get_transaction("a1")))


def test_replay_is_idempotent(tmp_path: Path, store: EventStore, ctx: IngestContext) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(GOOD) + "\n")
    first = _run(store, ctx, path)
    second = _run(store, ctx, path, batch_size=1)
    assert (first.accepted, first.duplicates, first.dead_lettered) == (4, 0, 0)
    assert (second.accepted, second.duplicates, second.dead_lettered) == (0, 4, 0)
    assert store.summary().transactions == 2


def test_card_numbers_are_tokenised_and_personal_data_kept(
    tmp_path: Path, store: EventStore, ctx: IngestContext
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text(GOOD[0] + "\n")
    _run(store, ctx, path)
    tx = store.get_transaction("a1")
    assert tx is not None and tx.card is not None
    assert tx.card.number is None and tx.card.last4 == "1111" and tx.card.bin == "411111"
    assert tx.card.token == ctx.tokenizer.card_from_number("4111111111111111").token
    assert tx.customer_name == "Jane Doe"


def test_checkpoints_commit_with_their_batch(store: EventStore, ctx: IngestContext) -> None:
    def records() -> Iterator[Parsed]:
        for index in range(5):
            tx = make_transaction(transaction_id=f"c{index}")
            yield Parsed(
                index + 1, encode(tx).decode(), events=(tx,), checkpoint=("wm", str(index))
            )
        yield Parsed(6, "x", error=RecordError("unparseable", "boom"), checkpoint=("wm", "5"))

    ingestion = Ingestion(store, source="s", format="sql", batch_size=2, checkpoint_prefix="sql:t:")
    report = ingestion.run(records())
    assert (report.read, report.accepted, report.dead_lettered) == (6, 5, 1)
    assert store.load_checkpoints("sql:t:") == {"sql:t:wm": "5"}


def test_a_failing_source_keeps_what_was_read(store: EventStore) -> None:
    def records() -> Iterator[Parsed]:
        tx = make_transaction(transaction_id="kept")
        yield Parsed(1, "", events=(tx,))
        raise OSError("disk gone")

    ingestion = Ingestion(store, source="s", format="json", batch_size=100)
    with pytest.raises(OSError, match="disk gone"):
        ingestion.run(records())
    assert store.get_transaction("kept") is not None


def test_dead_letter_raw_text_is_encrypted_at_rest(
    tmp_path: Path, store: EventStore, ctx: IngestContext
) -> None:
    pan_line = (
        '{"transaction_id":"p1","event_time":"2026-02-01T10:00:00Z","amount":"x",'
        '"currency":"EUR","card":{"number":"4111111111111111"},"customer_name":"Jane Doe"}'
    )
    path = tmp_path / "feed.jsonl"
    path.write_text(pan_line + "\n")
    _run(store, ctx, path)
    (letter,) = store.dead_letters()
    assert letter.raw == pan_line and letter.reason == "bad_number"
    database = (tmp_path / "fw.db").read_bytes()
    assert b"4111111111111111" not in database and b"Jane Doe" not in database
