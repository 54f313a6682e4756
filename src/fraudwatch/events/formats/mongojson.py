"""Reading MongoDB exports: JSON Lines or one JSON array, in Extended JSON, in constant memory.

`mongoexport` writes one document per line, or with `--jsonArray` a single array that may be far
larger than memory; `ArraySplitter` cuts such an array into the texts of its elements as the
chunks arrive, tracking only nesting depth and string state, so one element at a time is held.

Extended JSON (relaxed and canonical modes) wraps BSON types in `$`-objects; `plain` turns them
into Python values: `$oid` -> hex text, `$date` -> aware `datetime`, `$numberDecimal` ->
`Decimal`, `$numberLong`/`$numberInt` -> `int`, `$numberDouble` -> `float`, `$uuid` and UUID
`$binary` -> text, other `$binary` -> base64 text, `$timestamp` -> `datetime`, `$minKey`/`$maxKey`
-> None. Decoding reads every JSON fraction as `Decimal`, so `12.30` keeps its exactness.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from fraudwatch.errors import RecordError

decoder = msgspec.json.Decoder(float_hook=Decimal)

_OUTSIDE = re.compile(r'[\[\]{}",]')
_INSIDE = re.compile(r'["\\]')


class ArraySplitter:
    """Cuts the text of one top-level JSON array, fed in chunks, into its elements' texts.

    Text after the array's closing bracket is returned as one more element, so it is reported
    rather than lost; an array cut short ends with its partial last element.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._closed = False
        self._parts: list[str] = []

    def feed(self, chunk: str) -> Iterator[str]:
        """The elements completed by `chunk`; the rest of it is kept for the next call."""
        start, index, end = 0, 0, len(chunk)
        while index < end and not self._closed:
            if self._in_string:
                index = self._skip_string(chunk, index)
                continue
            match = _OUTSIDE.search(chunk, index)
            if match is None:
                break
            char, index = match.group(), match.end()
            if char == '"':
                self._in_string = True
            elif char in "[{":
                self._depth += 1
                if self._depth == 1:  # the outer array opens: its first element starts here
                    start, self._parts = index, []
            elif char in "]}":
                self._depth -= 1
                if self._depth == 0:  # the outer array closes
                    yield from self._element(chunk[start : match.start()])
                    start, self._closed = index, True
            elif self._depth == 1:  # a comma between two elements
                yield from self._element(chunk[start : match.start()])
                start = index
        self._parts.append(chunk[start:])

    def _skip_string(self, chunk: str, index: int) -> int:
        if self._escape:
            self._escape = False
            return index + 1
        match = _INSIDE.search(chunk, index)
        if match is None:
            return len(chunk)
        if match.group() == "\\":
            self._escape = True
        else:
            self._in_string = False
        return match.end()

    def _element(self, tail: str) -> Iterator[str]:
        text = ("".join(self._parts) + tail).strip()
        self._parts = []
        if text:
            yield text

    def finish(self) -> str | None:
        """What is left at the end of input: a truncated element or trailing text, if any."""
        rest = "".join(self._parts).strip()
        self._parts = []
        return rest or None


def _date(value: Any, path: str) -> datetime:
    if isinstance(value, dict) and "$numberLong" in value:
        value = int(value["$numberLong"])
    try:
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value) / 1000, UTC)
    except (ValueError, OverflowError):
        pass
    raise RecordError("bad_time", f"{value!r} is not an Extended JSON $date", field=path)


def _decimal(value: Any, path: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise RecordError("bad_number", f"{value!r} is not a decimal", field=path) from None


def _integer(value: Any, path: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise RecordError("bad_number", f"{value!r} is not an integer", field=path) from None


def _double(value: Any, path: str) -> float:
    try:
        return float(str(value))
    except ValueError:
        raise RecordError("bad_number", f"{value!r} is not a double", field=path) from None


def _binary(value: Any, path: str) -> str:
    if isinstance(value, dict) and value.get("subType") in ("04", "4"):
        return str(uuid.UUID(bytes=base64.b64decode(value.get("base64", ""))))
    return str(value.get("base64", "")) if isinstance(value, dict) else str(value)


def _timestamp(value: Any, path: str) -> datetime:
    seconds = value.get("t") if isinstance(value, dict) else None
    return datetime.fromtimestamp(_integer(seconds, path), UTC)


_WRAPPERS: dict[str, Callable[[Any, str], Any]] = {
    "$oid": lambda value, path: str(value),
    "$date": _date,
    "$numberDecimal": _decimal,
    "$numberLong": _integer,
    "$numberInt": _integer,
    "$numberDouble": _double,
    "$uuid": lambda value, path: str(value),
    "$symbol": lambda value, path: str(value),
    "$binary": _binary,
    "$timestamp": _timestamp,
    "$minKey": lambda value, path: None,
    "$maxKey": lambda value, path: None,
}


def plain(value: Any, path: str = "") -> Any:
    """`value` with every Extended JSON wrapper replaced by the Python value it stands for."""
    if isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            wrapper = _WRAPPERS.get(key)
            if wrapper is not None:
                return wrapper(value[key], path)
        return {key: plain(item, f"{path}.{key}" if path else key) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item, f"{path}.{index}") for index, item in enumerate(value)]
    return value
