"""The event-store contract: every test runs against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import msgspec
import pytest
from sqlalchemy import create_engine, inspect, text

from fraudwatch.errors import ConfigError
from fraudwatch.events.model import Card, LabelSource, Transaction, content_hash
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import EventStore, StorageError, WriteBatch, open_store
from fraudwatch.storage.schema import head_revision
from fraudwatch.storage.tables import metadata
from fraudwatch.storage.urls import sqlalchemy_url
from tests.conftest import TEST_PII_KEYS, make_transaction
from tests.storage.conftest import (
    BASE_TIME,
    full_transaction,
    make_dead_letter,
    make_label,
    make_login,
    raw_rows,
)

PLAINTEXTS = (
    "Erika",
    "erika@example.org",
    "+49 30 1234567",
    "203.0.113.7",
    "fp-a1b2c3",
    "T22000129",
)


def batch_of(*transactions: Transaction, **more: object) -> WriteBatch:
    return WriteBatch(transactions=[(tx, content_hash(tx)) for tx in transactions], **more)  # type: ignore[arg-type]


def ids(transactions: list[Transaction]) -> list[str]:
    return [tx.transaction_id for tx in transactions]


def test_migrate_is_idempotent(store: EventStore, store_url: str) -> None:
    store.migrate()
    store.migrate()
    assert raw_rows(store_url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


def test_migrated_schema_has_the_model_columns(store: EventStore, store_url: str) -> None:
    engine = create_engine(sqlalchemy_url(store_url))
    try:
        inspector = inspect(engine)
        for table in metadata.sorted_tables:
            columns = [column["name"] for column in inspector.get_columns(table.name)]
            assert columns == [column.name for column in table.columns], table.name
    finally:
        engine.dispose()


def test_round_trip_decrypts_what_was_written(store: EventStore) -> None:
    tx = full_transaction()
    store.write(batch_of(tx))
    assert store.get_transaction(tx.transaction_id) == tx
    assert store.get_transaction("no-such-id") is None


def test_minimal_transaction_round_trip_has_no_key_id(store: EventStore, store_url: str) -> None:
    tx = make_transaction(card=None, merchant=None, customer_id=None)
    store.write(batch_of(tx))
    assert store.get_transaction(tx.transaction_id) == tx
    assert raw_rows(store_url, "SELECT pii_key_id FROM transactions") == [(None,)]


def test_personal_fields_are_stored_encrypted(store: EventStore, store_url: str) -> None:
    store.write(batch_of(full_transaction()))
    (row,) = raw_rows(store_url, "SELECT * FROM transactions")
    stored = repr(tuple(row))
    for plaintext in PLAINTEXTS:
        assert plaintext not in stored
        assert plaintext.encode() not in b"".join(v for v in row if isinstance(v, bytes))
    assert row.pii_key_id == "k1"
    # One ciphertext for all of them (codec.SEALED): nonce + msgpack + tag, in personal_enc.
    assert row.customer_name_enc is None and row.ip_address_enc is None
    assert row.device_fingerprint_enc is None
    keyring = KeyRing(TEST_PII_KEYS, "k1")
    plain = keyring.open("k1", bytes(row.personal_enc), b"transactions:tx-00000:sealed")
    assert msgspec.msgpack.decode(plain)[:2] == ["Erika Mustermann", "erika@example.org"]


def test_ciphertext_moved_to_another_row_does_not_decrypt(
    store: EventStore, store_url: str
) -> None:
    first, second = full_transaction(0), full_transaction(1)
    store.write(batch_of(first, second))
    engine = create_engine(sqlalchemy_url(store_url))
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE transactions SET personal_enc = "
                "(SELECT personal_enc FROM transactions WHERE transaction_id = :a) "
                "WHERE transaction_id = :b"
            ),
            {"a": first.transaction_id, "b": second.transaction_id},
        )
    engine.dispose()
    assert store.get_transaction(first.transaction_id) == first
    with pytest.raises(StorageError, match="cannot decrypt personal of transactions row"):
        store.get_transaction(second.transaction_id)


@pytest.mark.parametrize("only_personal", [False, True])
def test_rows_sealed_field_by_field_still_decrypt(
    store: EventStore, store_url: str, only_personal: bool
) -> None:
    """Rows stored before 25 November 2026 have one ciphertext per personal field, each bound
    to its row and field; they read back as they were written, moved ones still refuse."""
    tx = full_transaction(0)
    if only_personal:
        tx = msgspec.structs.replace(
            tx, customer_name=None, customer_email=None, customer_phone=None, ip_address=None,
            device=None,
        )  # fmt: skip
    store.write(batch_of(tx, full_transaction(1)))
    keyring = KeyRing(TEST_PII_KEYS, "k2")  # rows stored under an older key read back too
    values = {
        "customer_name": tx.customer_name,
        "customer_email": tx.customer_email,
        "customer_phone": tx.customer_phone,
        "ip_address": tx.ip_address,
        "device_fingerprint": tx.device.fingerprint if tx.device else None,
        "personal": msgspec.json.encode(tx.personal).decode(),
    }
    sealed = {
        f"{field}_enc": None
        if value is None
        else keyring.encrypt(value, f"transactions:{tx.transaction_id}:{field}".encode())
        for field, value in values.items()
    }
    engine = create_engine(sqlalchemy_url(store_url))
    with engine.begin() as conn:
        assignments = ", ".join(f"{column} = :{column}" for column in [*sealed, "pii_key_id"])
        conn.execute(
            text(f"UPDATE transactions SET {assignments} WHERE transaction_id = :t"),
            {**sealed, "pii_key_id": "k2", "t": tx.transaction_id},
        )
    assert store.get_transaction(tx.transaction_id) == tx
    moved = "personal_enc" if only_personal else "customer_name_enc"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"UPDATE transactions SET {moved} = (SELECT {moved} FROM transactions "
                "WHERE transaction_id = :a), pii_key_id = 'k2' WHERE transaction_id = :b"
            ),
            {"a": tx.transaction_id, "b": full_transaction(1).transaction_id},
        )
    engine.dispose()
    with pytest.raises(StorageError, match=f"cannot decrypt {moved.removesuffix('_enc')}"):
        store.get_transaction(full_transaction(1).transaction_id)


def test_card_numbers_are_refused(store: EventStore) -> None:
    tx = make_transaction(card=Card(number="4111111111111111"))
    with pytest.raises(StorageError, match="card number"):
        store.write(batch_of(tx))
    assert store.summary().transactions == 0


def test_rewriting_is_idempotent_and_first_content_wins(store: EventStore) -> None:
    txs = [full_transaction(i) for i in range(5)]
    store.write(batch_of(*txs))
    store.write(batch_of(*txs))
    changed = msgspec.structs.replace(txs[0], amount=Decimal("1.00"))
    moved = msgspec.structs.replace(txs[1], event_time=txs[1].event_time + timedelta(days=40))
    store.write(batch_of(changed, moved, full_transaction(7), full_transaction(7)))
    assert store.summary().transactions == 6
    assert store.get_transaction(txs[0].transaction_id) == txs[0]
    assert store.get_transaction(txs[1].transaction_id) == txs[1]


def test_known_hashes(store: EventStore) -> None:
    txs = [full_transaction(i) for i in range(3)]
    store.write(batch_of(*txs))
    asked = [f"missing-{i}" for i in range(1200)] + ids(txs) + ids(txs)
    assert store.known_hashes("transaction", asked) == {
        tx.transaction_id: content_hash(tx) for tx in txs
    }
    assert store.known_hashes("label", ids(txs)) == {}
    assert store.known_hashes("transaction", []) == {}


def test_labels(store: EventStore) -> None:
    first, second = full_transaction(0), full_transaction(1)
    labels = [
        make_label(first),
        make_label(
            first, source=LabelSource.ANALYST, known_at=first.event_time + timedelta(days=2)
        ),
        make_label(second, is_fraud=False, fraud_type=None),
    ]
    batch = WriteBatch(labels=[(label, content_hash(label)) for label in labels])
    store.write(batch)
    store.write(batch)
    assert store.labels_for([first.transaction_id, second.transaction_id, "other"]) == [
        labels[1],
        labels[0],
        labels[2],
    ]
    assert store.known_hashes("label", [labels[0].label_id]) == {
        labels[0].label_id: content_hash(labels[0])
    }


def test_logins_round_trip_and_encrypt_the_ip(store: EventStore, store_url: str) -> None:
    logins = [make_login(i) for i in range(4)] + [make_login(9, customer_id="cust-2", device=None)]
    batch = WriteBatch(logins=[(login, content_hash(login)) for login in logins])
    store.write(batch)
    store.write(batch)
    assert store.find_logins(customer_id="cust-1") == logins[3::-1]
    assert store.find_logins(customer_id="cust-2") == [logins[4]]
    assert store.find_logins(customer_id="cust-1", start=logins[1].event_time, limit=2) == [
        logins[3],
        logins[2],
    ]
    stored = repr(raw_rows(store_url, "SELECT * FROM logins"))
    assert "198.51.100" not in stored and "fp-login" not in stored
    assert store.known_hashes("login", ["login-0"]) == {"login-0": content_hash(logins[0])}


def test_dead_letters_list_filter_and_stream(store: EventStore) -> None:
    letters = [make_dead_letter(i) for i in range(1, 6)]
    letters.append(make_dead_letter(6, reason="bad_time", field="event_time", message="no zone"))
    letters.append(make_dead_letter(7, source="gateway", format="gateway-json"))
    store.write(WriteBatch(dead_letters=letters))
    store.write(WriteBatch(dead_letters=letters))  # the same refused records again

    stored = store.dead_letters()
    assert [msgspec.structs.replace(letter, id=None) for letter in stored] == letters
    assert all(letter.id is not None for letter in stored)
    assert [letter.position for letter in store.dead_letters(reason="bad_time")] == [6]
    assert [letter.position for letter in store.dead_letters(source="gateway")] == [7]
    assert [letter.position for letter in store.dead_letters(limit=2, offset=3)] == [4, 5]
    assert [
        letter.position
        for letter in store.iter_dead_letters(reason="unknown_currency", source="bank-a")
    ] == [1, 2, 3, 4, 5]
    assert list(store.iter_dead_letters(reason="late_event")) == []


def test_checkpoints_commit_with_the_batch(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write(WriteBatch(checkpoints={"file:a": "10", "file:b": "3", "sql_x": "7", "sqlyx": "8"}))
    store.write(WriteBatch(checkpoints={"file:a": "20"}))
    assert store.load_checkpoints("file:") == {"file:a": "20", "file:b": "3"}
    assert store.load_checkpoints("sql_") == {"sql_x": "7"}  # `_` is not a wildcard

    tx, login = full_transaction(), make_login()
    failing_batch = batch_of(
        tx,
        labels=[(make_label(tx), content_hash(make_label(tx)))],
        logins=[(login, content_hash(login))],
        dead_letters=[make_dead_letter()],
        checkpoints={"file:a": "30"},
    )
    backend = type(store)
    upsert = backend._upsert_checkpoints  # type: ignore[attr-defined]

    def crash_after_checkpoints(self: object, conn: object, checkpoints: dict[str, str]) -> None:
        upsert(self, conn, checkpoints)
        raise RuntimeError("crash before commit")

    monkeypatch.setattr(backend, "_upsert_checkpoints", crash_after_checkpoints)
    with pytest.raises(RuntimeError, match="crash before commit"):
        store.write(failing_batch)
    monkeypatch.undo()

    assert store.load_checkpoints("file:a") == {"file:a": "20"}
    summary = store.summary()
    assert (summary.transactions, summary.labels, summary.logins, summary.dead_letters) == (
        0,
        0,
        0,
        0,
    )
    assert store.known_hashes("transaction", [tx.transaction_id]) == {}

    store.write(failing_batch)  # the retry after the crash stores everything
    assert store.load_checkpoints("file:a") == {"file:a": "30"}
    assert store.get_transaction(tx.transaction_id) == tx


def test_find_transactions(store: EventStore) -> None:
    txs = [full_transaction(i) for i in range(12)]  # card i % 3, customer i % 4, merchant i % 5
    store.write(batch_of(*txs))
    newest_first = txs[::-1]

    card = txs[0].card
    assert card is not None
    same_card = [tx for tx in newest_first if tx.card == card]
    assert len(same_card) == 4
    assert store.find_transactions(card_token=card.token) == same_card
    assert ids(store.find_transactions(customer_id="cust-1")) == [
        "tx-00009",
        "tx-00005",
        "tx-00001",
    ]
    assert ids(store.find_transactions(merchant_id="m-2")) == ["tx-00007", "tx-00002"]
    window = store.find_transactions(start=txs[3].event_time, end=txs[6].event_time)
    assert ids(window) == ["tx-00005", "tx-00004", "tx-00003"]
    assert ids(store.find_transactions(limit=2)) == ["tx-00011", "tx-00010"]
    assert ids(store.find_transactions(customer_id="cust-0", end=txs[8].event_time)) == [
        "tx-00004",
        "tx-00000",
    ]
    assert store.find_transactions(customer_id="nobody") == []


def test_summary(store: EventStore) -> None:
    txs = [full_transaction(i) for i in range(4)]
    txs.append(full_transaction(4, source="bank-b", currency="USD", amount=Decimal("0.10")))
    txs.append(full_transaction(5, source="bank-b", currency="USD", amount=Decimal("0.20")))
    labels = [
        make_label(txs[0]),
        make_label(txs[1], fraud_type="account_takeover"),
        make_label(txs[2], fraud_type=None),
        make_label(txs[3], is_fraud=False, fraud_type=None),
    ]
    store.write(
        batch_of(
            *txs,
            labels=[(label, content_hash(label)) for label in labels],
            logins=[(login, content_hash(login)) for login in (make_login(0), make_login(1))],
            dead_letters=[
                make_dead_letter(1),
                make_dead_letter(2),
                make_dead_letter(3, reason="bad_time"),
            ],
        )
    )
    summary = store.summary()
    assert summary.transactions == 6
    assert summary.sources["bank-a"].transactions == 4
    assert summary.sources["bank-a"].amounts == {"EUR": Decimal("4944.24")}
    assert summary.sources["bank-b"].amounts == {"USD": Decimal("0.30")}
    assert summary.first_event_time == BASE_TIME
    assert summary.last_event_time == BASE_TIME + timedelta(minutes=5)
    assert (summary.labels, summary.fraud_labels) == (4, 3)
    assert summary.fraud_by_type == {"account_takeover": 1, "card_testing": 1, "unspecified": 1}
    assert summary.logins == 2
    assert summary.dead_letters == 3
    assert summary.dead_letters_by_reason == {"bad_time": 1, "unknown_currency": 2}


def test_key_rotation_keeps_old_rows_readable(store: EventStore, store_url: str) -> None:
    old, new = full_transaction(0), full_transaction(1)
    store.write(batch_of(old))
    with open_store(store_url, KeyRing(TEST_PII_KEYS, "k2")) as rotated:
        rotated.write(batch_of(new))
        assert rotated.get_transaction(old.transaction_id) == old
        assert rotated.get_transaction(new.transaction_id) == new
    assert store.get_transaction(new.transaction_id) == new
    assert raw_rows(store_url, "SELECT pii_key_id FROM transactions ORDER BY transaction_id") == [
        ("k1",),
        ("k2",),
    ]
    without_k1 = KeyRing({"k2": TEST_PII_KEYS["k2"]}, "k2")
    with open_store(store_url, without_k1) as store_k2, pytest.raises(ConfigError, match="'k1'"):
        store_k2.get_transaction(old.transaction_id)


def test_concurrent_writers_store_each_event_once(store: EventStore, store_url: str) -> None:
    """Two writers, the same events in opposite orders at the same time: no duplicate, no
    deadlock (PostgreSQL registers keys in id order), no busy error (SQLite waits its turn)."""
    txs = [full_transaction(i) for i in range(400)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(keyring: KeyRing, backwards: bool) -> None:
        try:
            with open_store(store_url, keyring) as own:
                start.wait()
                for first in range(0, len(txs), 200):
                    chunk = txs[first : first + 200]
                    own.write(batch_of(*(chunk[::-1] if backwards else chunk)))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(KeyRing(TEST_PII_KEYS, "k1"), False)),
        threading.Thread(target=writer, args=(KeyRing(TEST_PII_KEYS, "k2"), True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.summary().transactions == len(txs)
    counted = "SELECT count(*), count(DISTINCT transaction_id) FROM transactions"
    assert raw_rows(store_url, counted) == [(len(txs), len(txs))]
    registered = 0 if store_url.startswith("sqlite") else len(txs)  # SQLite: the row is the key
    assert raw_rows(store_url, "SELECT count(*) FROM event_keys") == [(registered,)]
    assert store.get_transaction(txs[0].transaction_id) == txs[0]


def test_empty_batch_writes_nothing(store: EventStore) -> None:
    store.write(WriteBatch())
    assert store.summary().transactions == 0


def test_history_streams_in_time_order(store: EventStore) -> None:
    """The feature engines read history from the store: every event, oldest first."""
    txs = [full_transaction(index) for index in (3, 0, 2, 1)]
    store.write(batch_of(*txs))
    labels = [
        make_label(txs[0]),
        make_label(txs[1], known_at=txs[1].event_time + timedelta(days=1)),
    ]
    store.write(WriteBatch(labels=[(label, content_hash(label)) for label in labels]))
    streamed = list(store.iter_transactions())
    assert streamed == sorted(txs, key=lambda tx: tx.event_time)
    middle = list(store.iter_transactions(start=streamed[1].event_time, end=streamed[3].event_time))
    assert ids(middle) == ids(streamed[1:3])
    known = list(store.iter_labels())
    assert known == sorted(labels, key=lambda label: label.known_at)
    assert list(store.iter_labels(end=known[0].known_at)) == []
