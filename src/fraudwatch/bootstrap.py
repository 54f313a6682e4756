"""The composition root: settings in, concrete backends out. Entry points call `bootstrap()`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from fraudwatch.control.repository import ControlPlane
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.keys import load_keys
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.settings import Settings, load_settings
from fraudwatch.storage.store import EventStore, open_store


@dataclass
class Container:
    """What a command or a server needs, built lazily from one `Settings`."""

    settings: Settings
    _closers: list[EventStore] = field(default_factory=list)

    @cached_property
    def _keys(self) -> tuple[CardTokenizer, KeyRing]:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        return load_keys(self.settings)

    @property
    def tokenizer(self) -> CardTokenizer:
        return self._keys[0]

    @property
    def keyring(self) -> KeyRing:
        return self._keys[1]

    @cached_property
    def store(self) -> EventStore:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        store = open_store(
            self.settings.resolved_database_url,
            self.keyring,
            months_ahead=self.settings.partition_months_ahead,
        )
        store.migrate()
        self._closers.append(store)
        return store

    @cached_property
    def control(self) -> ControlPlane:
        """Rule sets, lists, API keys and the audit log, in the same database as the store."""
        return ControlPlane(self.store.engine, self.keyring, self.tokenizer)

    def close(self) -> None:
        for store in self._closers:
            store.close()
        self._closers.clear()


def bootstrap(settings: Settings | None = None) -> Container:
    return Container(settings or load_settings())
