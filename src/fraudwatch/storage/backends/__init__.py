"""Event store backends, one module per database; `fraudwatch.storage.store` picks one by URL."""
