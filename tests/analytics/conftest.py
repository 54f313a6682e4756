"""The storage tests' fixtures: one store per backend (SQLite, and PostgreSQL when it starts)."""

from tests.storage.conftest import (  # noqa: F401
    postgres_database,
    postgres_template,
    postgres_url,
    store,
    store_url,
)
