"""One error hierarchy with stable codes, mapped to exit codes by the CLI and to HTTP by the API."""

from __future__ import annotations


class FraudwatchError(Exception):
    """Base of every error fraudwatch raises on purpose; `code` is stable and machine-readable."""

    code = "fraudwatch_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(FraudwatchError):
    """Settings are missing, contradictory or unsafe."""

    code = "config_error"


class NotFoundError(FraudwatchError):
    code = "not_found"


class UnknownFormatError(FraudwatchError):
    code = "unknown_format"


class RecordError(FraudwatchError):
    """One input record cannot become a canonical event; it goes to the dead-letter store.

    `reason` is a short stable code (see `fraudwatch.events.deadletter.REASONS`), `field` the
    canonical or source field at fault when there is one.
    """

    code = "bad_record"

    def __init__(self, reason: str, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.reason = reason
        self.field = field
