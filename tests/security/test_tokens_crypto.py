import pytest
from cryptography.exceptions import InvalidTag

from fraudwatch.errors import ConfigError, RecordError
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.tokens import CardTokenizer, luhn_valid
from tests.conftest import TEST_PII_KEYS, TEST_TOKEN_KEY


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


def test_card_token_is_keyed_stable_and_hides_the_number(tokenizer: CardTokenizer) -> None:
    card = tokenizer.card_from_number("4111 1111 1111 1111")
    assert card.bin == "411111" and card.last4 == "1111" and card.number is None
    assert card.token == tokenizer.card_from_number("4111111111111111").token
    assert card.token is not None and "4111" not in card.token
    other = CardTokenizer(bytes(32)).card_from_number("4111111111111111")
    assert other.token != card.token


@pytest.mark.parametrize("number", ["4111111111111112", "41111", "4111-abcd-1111-1111"])
def test_bad_card_numbers_are_record_errors(tokenizer: CardTokenizer, number: str) -> None:
    with pytest.raises(RecordError) as info:
        tokenizer.card_from_number(number)
    assert info.value.reason == "bad_card_number"
    assert info.value.field == "card.number"


def test_namespaced_keys_do_not_collide(tokenizer: CardTokenizer) -> None:
    assert tokenizer.card_from_key("a", "1").token != tokenizer.card_from_key("b", "1").token


def test_short_token_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CardTokenizer(b"short")
    assert CardTokenizer(TEST_TOKEN_KEY)


def test_encryption_round_trip_and_rotation() -> None:
    ring = KeyRing(TEST_PII_KEYS, "k1")
    blob = ring.encrypt("Jane Doe", b"tx-1:customer_name")
    assert b"Jane" not in blob
    rotated = KeyRing(TEST_PII_KEYS, "k2")
    assert rotated.decrypt("k1", blob, b"tx-1:customer_name") == "Jane Doe"
    newer = rotated.encrypt("Jane Doe", b"tx-1:customer_name")
    assert rotated.decrypt("k2", newer, b"tx-1:customer_name") == "Jane Doe"


def test_ciphertext_is_bound_to_its_row_and_field() -> None:
    ring = KeyRing(TEST_PII_KEYS, "k1")
    blob = ring.encrypt("Jane Doe", b"tx-1:customer_name")
    with pytest.raises(InvalidTag):
        ring.decrypt("k1", blob, b"tx-2:customer_name")


def test_key_ring_validation() -> None:
    with pytest.raises(ConfigError):
        KeyRing({"k1": bytes(16)}, "k1")
    with pytest.raises(ConfigError):
        KeyRing(TEST_PII_KEYS, "k9")
    ring = KeyRing(TEST_PII_KEYS, "k1")
    with pytest.raises(ConfigError):
        ring.decrypt("k9", b"x" * 40, b"")
