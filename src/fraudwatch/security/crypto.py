"""AES-256-GCM encryption of personal data, with the key id stored beside each ciphertext.

A `KeyRing` holds every key that may still decrypt and one active key that encrypts; rotating
means adding a key and making it active, old rows still decrypt with their recorded key id.
The associated data binds a ciphertext to its row and field, so a ciphertext copied to another
row or column fails to decrypt instead of silently showing the wrong person's data.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fraudwatch.errors import ConfigError

NONCE_BYTES = 12


class KeyRing:
    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ConfigError(f"active key id {active_key_id!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ConfigError(f"key {key_id!r} must be 32 bytes for AES-256, not {len(key)}")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    @staticmethod
    def decode_key(text: str) -> bytes:
        return base64.b64decode(text.strip(), validate=True)

    def encrypt(self, plaintext: str, associated: bytes) -> bytes:
        """nonce || ciphertext+tag under the active key; pair it with `active_key_id`."""
        return self.seal(plaintext.encode(), associated)

    def decrypt(self, key_id: str, blob: bytes, associated: bytes) -> str:
        return self.open(key_id, blob, associated).decode()

    def seal(self, data: bytes, associated: bytes) -> bytes:
        """`encrypt` for bytes."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._ciphers[self.active_key_id].encrypt(nonce, data, associated)

    def open(self, key_id: str, blob: bytes, associated: bytes) -> bytes:
        """`decrypt` for bytes (raises `cryptography`'s InvalidTag for a wrong key or
        associated data)."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise ConfigError(f"no key {key_id!r} to decrypt with; was it removed from the ring?")
        return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)
