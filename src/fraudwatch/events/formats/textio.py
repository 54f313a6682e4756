"""Text input for the line-based formats: files, gzip files and stdin, read in constant memory.

`open_text` opens a location (`-` is stdin) as text, decompressing gzip when the name ends in
`.gz` or the data starts with the gzip magic bytes, and reports progress as compressed bytes read
against the file size. Bytes that are not valid in the chosen encoding never crash a run: by
default they decode to U+FFFD; a reader that wants to refuse such lines reads them through
`numbered_lines` (which keeps them as lone surrogates), spots them with `undecodable`,
dead-letters them with `encoding_error` and stores their raw text through `printable`.
"""

from __future__ import annotations

import gzip
import io
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from fraudwatch.errors import FraudwatchError, RecordError

Progress = Callable[[int, int | None], None]
ProgressHook = Progress  # the same hook under the name some readers import

GZIP_MAGIC = b"\x1f\x8b"
_DECOMPRESSION_ERRORS = (EOFError, OSError, zlib.error)
PROGRESS_EVERY = 1 << 20  # bytes between two progress reports
_SURROGATE = re.compile("[\udc80-\udcff]")


def _no_progress(done: int, total: int | None) -> None:
    return None


class _CountingReader(io.RawIOBase):
    """A raw byte stream that counts what it reads and reports it every `PROGRESS_EVERY` bytes."""

    def __init__(self, inner: BinaryIO, total: int | None, progress: Progress) -> None:
        self._inner = inner
        self._total = total
        self._progress = progress
        self._done = 0
        self._reported = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._done += size
        at_end = size == 0 and not self._ended
        if at_end or self._done - self._reported >= PROGRESS_EVERY:
            self._ended = self._ended or at_end
            self._reported = self._done
            self._progress(self._done, self._total)
        return size

    def close(self) -> None:
        if not self.closed and self._inner is not sys.stdin.buffer:
            self._inner.close()
        super().close()


class _OwningGzipFile(gzip.GzipFile):
    """A `GzipFile` that also closes the stream it reads (a plain one leaves it open)."""

    def __init__(self, source: io.BufferedReader[_CountingReader]) -> None:
        super().__init__(fileobj=source, mode="rb")
        self._source = source

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._source.close()


def _is_gzip(location: str, buffered: io.BufferedReader[_CountingReader]) -> bool:
    return location.endswith(".gz") or buffered.peek(2)[:2] == GZIP_MAGIC


def open_text(
    location: str,
    progress: Progress | None = None,
    *,
    encoding: str = "utf-8",
    errors: str = "replace",
) -> TextIO:
    """Open `location` (a path or `-` for stdin) as text; gzip is decompressed transparently.

    Lines keep their terminators (`newline=""`), as the `csv` module needs for quoted newlines.
    A missing file raises `FraudwatchError`: that is a whole-input problem, not a bad record.
    """
    if location == "-":
        raw: BinaryIO = sys.stdin.buffer
        total = None
    else:
        path = Path(location)
        try:
            raw = path.open("rb")
        except OSError as exc:
            raise FraudwatchError(f"cannot open {location}: {exc.strerror}") from exc
        total = path.stat().st_size
    counting = _CountingReader(raw, total, progress or _no_progress)
    buffered = io.BufferedReader(counting, buffer_size=1 << 16)
    if _is_gzip(location, buffered):
        unzipped = _OwningGzipFile(buffered)
        return io.TextIOWrapper(unzipped, encoding=encoding, errors=errors, newline="")
    return io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline="")


def numbered_lines(
    location: str, progress: Progress | None = None, *, encoding: str = "utf-8"
) -> Iterator[tuple[int, str]]:
    """`(line_number, line)` for every line of `location`, 1-based, terminators kept.

    Bytes invalid in `encoding` are kept as lone surrogates, so the caller can refuse the line.
    """
    with open_text(location, progress, encoding=encoding, errors="surrogateescape") as stream:
        yield from lines_of(stream, location)


def lines_of(stream: TextIO, location: str) -> Iterator[tuple[int, str]]:
    """`(line_number, line)` of an open stream.

    A corrupt or truncated gzip stream is a whole-file problem: it raises `FraudwatchError`
    naming the last good line, after every line before it has been yielded.
    """
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            yield number, line
    except _DECOMPRESSION_ERRORS as exc:
        raise _corrupt(location, f"line {number}", exc) from exc


def chunks_of(stream: TextIO, location: str, size: int = 1 << 16) -> Iterator[str]:
    """The text of an open stream in pieces of at most `size` characters, whatever its lines."""
    done = 0
    try:
        while chunk := stream.read(size):
            yield chunk
            done += len(chunk)
    except _DECOMPRESSION_ERRORS as exc:
        raise _corrupt(location, f"character {done}", exc) from exc


def starts_with(stream: TextIO, prefix: bytes, *, window: int = 1 << 16) -> bool:
    """Whether the first non-blank bytes of a freshly opened stream are `prefix`.

    Looks ahead without consuming anything (so it works on stdin); blank text longer than
    `window` bytes counts as not starting with `prefix`.
    """
    peek = getattr(stream.buffer, "peek", None)
    if peek is None:
        return False
    head: bytes = peek(window)[:window]
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(prefix)


def _corrupt(location: str, last_good: str, exc: Exception) -> FraudwatchError:
    return FraudwatchError(
        f"{location}: the compressed data is corrupt or truncated after {last_good} ({exc})"
    )


def undecodable(text: str) -> bool:
    """True when `text` holds bytes that were not valid in the encoding it was read with."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def printable(text: str) -> str:
    """`text` with undecodable bytes shown as U+FFFD, safe to store as a dead letter's raw text."""
    if not undecodable(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def encoding_error(encoding: str) -> RecordError:
    """The dead-letter reason for a line with bytes invalid in `encoding`."""
    return RecordError(
        "unparseable",
        f"holds bytes that are not valid {encoding}; set the option encoding (e.g. cp1252)",
    )
