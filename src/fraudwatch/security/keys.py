"""Where the token key and the encryption keys come from.

Distributed deployments must pass them in settings (a secret store fills the environment). The
embedded deployment creates them once under `FRAUDWATCH_HOME/keys/` with owner-only permissions,
so `make demo` just works and a restart keeps tokens and ciphertexts readable.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from fraudwatch.errors import ConfigError
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.settings import Settings


def _decode_secret(text: str) -> bytes:
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ConfigError("FRAUDWATCH_TOKEN_KEY must be hex or base64") from exc


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def _embedded_keys(home: Path) -> tuple[bytes, dict[str, bytes], str]:
    folder = home / "keys"
    token_file = folder / "card-token.key"
    ring_file = folder / "pii-keys.json"
    if not token_file.exists():
        _write_private(token_file, os.urandom(32).hex())
    if not ring_file.exists():
        key_id = "k1"
        ring = {"active": key_id, "keys": {key_id: base64.b64encode(os.urandom(32)).decode()}}
        _write_private(ring_file, json.dumps(ring))
    token_key = bytes.fromhex(token_file.read_text().strip())
    ring_data = json.loads(ring_file.read_text())
    keys = {kid: base64.b64decode(value) for kid, value in ring_data["keys"].items()}
    return token_key, keys, str(ring_data["active"])


def load_keys(settings: Settings) -> tuple[CardTokenizer, KeyRing]:
    """The card tokenizer and the personal-data key ring of this deployment."""
    if settings.token_key is not None and settings.active_key_id is not None:
        token_key = _decode_secret(settings.token_key.get_secret_value())
        keys = {
            kid: KeyRing.decode_key(secret.get_secret_value())
            for kid, secret in settings.encryption_keys.items()
        }
        return CardTokenizer(token_key), KeyRing(keys, settings.active_key_id)
    if settings.deployment == "distributed":
        raise ConfigError("the distributed deployment needs FRAUDWATCH_TOKEN_KEY and keys")
    token_key, keys, active = _embedded_keys(settings.home)
    if settings.token_key is not None:
        token_key = _decode_secret(settings.token_key.get_secret_value())
    return CardTokenizer(token_key), KeyRing(keys, active)
