"""The decision writer in its own process: the store write off the scoring process's GIL.

Storing a decided transaction costs more CPU than scoring it (encryption, content hashes, a dozen
B-tree inserts: docs/api.md), and in the scoring process that work competes with scoring for the
one interpreter lock however many cores there are. `ProcessWriter` has the interface of
`DecisionWriter` (`submit`, tickets and `wait`, `flush`, `backlog`, `close`) but hands the pairs,
msgpack-encoded, through a pipe to a child process that opens the same store (file SQLite or
PostgreSQL) and writes them, together with the alert outbox rows, in one transaction per batch;
batches arriving within `store_commit_interval_s` of the last commit, or while it was writing
the last one, are joined into one larger transaction, up to `join_limit` decisions (far fewer
index pages written per decision: the random-key indexes' pages are shared by more of them; a
thread of the child reads the pipe meanwhile, see `Inbox`). It then opens the investigators'
cases from the flagged decisions, at most every `CASES_EVERY_S` (the child owns that write
too). The child acknowledges each batch once it is durably stored; only then do waiters return
and the `on_stored` listeners run, in the scoring process, with the pairs it kept.

Nothing is lost when the child dies: every batch not yet acknowledged is sent again, in order, to
a new child (writes are idempotent, so a batch stored just before the crash is skipped).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import OrderedDict, deque
from multiprocessing.connection import Connection

import msgspec

from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.events.model import Card, Merchant, Transaction
from fraudwatch.runtime import quiet_garbage_collector
from fraudwatch.scoring.writer import Features, Listener, Pair, QueuedWriter, write_batch
from fraudwatch.settings import Settings

log = logging.getLogger(__name__)
CASES_EVERY_S = 0.5
"""The child opens the cases of the flagged decisions it has stored at most this often (and as
it stops), in one transaction for all of them. Opened after each batch, they took a second
commit per batch, with random-key inserts of their own: 0.56 ms per batch (p50, 3.6 ms at p90)
against 4 ms for the batch's own write, at 2,000 decisions/s in batches of about 24
(docs/benchmarks.md), all of it before the next batch could be stored. A crash loses none: the
scoring process keeps the flagged pairs until the child says their cases are opened, and sends
them to a new child with the batches it has not stored."""
JOIN_LIMIT = 20_000
"""Most decisions the child joins into one transaction. On SQLite, with the benchmark
scenario's 300,000 stored transactions, the writer's CPU per decided transaction was 75-78 µs
in commits of 1,250, 63-84 µs in commits of 5,000 and 54-55 µs in commits of 20,000
(docs/benchmarks.md). Joins that large happen only while the child is behind, so they add no
latency at lower rates."""


class _Batch(msgspec.Struct, array_like=True):
    seq: int
    pairs: list[tuple[Transaction | None, Decision]]
    features: Features


class _Ack(msgspec.Struct, array_like=True):
    seq: int
    stored: bool
    error: str | None = None
    cases: bool = False  # not a batch stored: the cases of the batches up to `seq` are opened


class _CheckedCard(Card):
    """A card as the child decodes it: the scoring process checked it (`Card.__post_init__`)
    before scoring, and msgpack carries the values exactly, so the child does not check again."""

    def __post_init__(self) -> None:
        pass


class _CheckedMerchant(Merchant):
    """A merchant the scoring process checked (see `_CheckedCard`)."""

    def __post_init__(self) -> None:
        pass


class _CheckedTransaction(Transaction):
    """A transaction the scoring process checked, decoded without checking it again: its
    checks (currency, countries, coordinates, amount; and the card's and merchant's) were a
    third of decoding a batch in the child, 4.3 -> 2.4 µs per scenario transaction. Its time is
    UTC already (msgpack timestamps decode as UTC). Still a `Transaction`, with the same
    content hash (tested); only the order of its fields differs."""

    card: _CheckedCard | None = None
    merchant: _CheckedMerchant | None = None

    def __post_init__(self) -> None:
        pass


class _CheckedBatch(msgspec.Struct, array_like=True):
    """`_Batch` as the child decodes it."""

    seq: int
    pairs: list[tuple[_CheckedTransaction | None, Decision]]
    features: Features


_encode = msgspec.msgpack.Encoder().encode
_batch_decoder = msgspec.msgpack.Decoder(_CheckedBatch)
_ack_decoder = msgspec.msgpack.Decoder(_Ack)


class ProcessWriter(QueuedWriter):
    """`DecisionWriter`'s interface, the writing done by a child process (see the module)."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_batch: int = 5000,
        max_delay_s: float = 0.05,
        capacity: int = 100_000,
        on_stored: Listener | None = None,
        start_timeout_s: float = 120.0,
        project: bool = False,
        join_limit: int = JOIN_LIMIT,
        nice: int = 0,
    ) -> None:
        """`max_batch`: decisions per message to the child; `join_limit`: per transaction
        the child commits. `project`: the child also keeps the dashboard's rollups
        (`analytics/projector.py`), off the scoring process too. `nice`: how much lower the
        child's scheduling priority is than this process's (`store_writer_nice`)."""
        super().__init__(
            max_batch=max_batch,
            max_delay_s=max_delay_s,
            capacity=capacity,
            on_stored=on_stored,
            thread_name="writer-send",
        )
        self._settings = settings
        self._project = project
        self._join_limit = join_limit
        self._nice = nice
        self._start_timeout = start_timeout_s
        self._unacked: OrderedDict[int, tuple[list[Pair], bytes]] = OrderedDict()
        # The flagged pairs of stored batches whose cases the child has not opened yet: sent
        # again to a new child, as the batches not stored are.
        self._uncased: OrderedDict[int, list[Pair]] = OrderedDict()
        self._seq = 0
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._start_child()
        self._reader = threading.Thread(target=self._read_loop, name="writer-acks", daemon=True)
        self._thread.start()
        self._reader.start()

    def close(self, timeout: float = 30.0) -> None:
        self._stop_draining(timeout)
        with self._send_lock:
            conn = self._conn
            if conn is not None:
                with contextlib.suppress(OSError):  # stop: the child exits, the reader sees EOF
                    conn.send_bytes(b"")
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._reader.join(timeout)
        with self._send_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- the child ------------------------------------------------------------------------------

    def _start_child(self) -> Connection:
        """`python -m fraudwatch.scoring.writer_process FD`: a fresh interpreter (nothing of
        the caller's main module re-imported), talking over a socket pair; the settings go
        first, pickled (secrets included, never on a command line or in the environment)."""
        mine, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    __name__,
                    str(theirs.fileno()),
                    str(self._join_limit),
                    "project" if self._project else "",
                    str(self._nice),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        conn = Connection(mine.detach())
        conn.send_bytes(pickle.dumps(self._settings))
        if not conn.poll(self._start_timeout) or conn.recv_bytes() != b"ready":
            process.kill()
            conn.close()
            raise RuntimeError("the writer process did not start")
        self._process, self._conn = process, conn
        return conn

    def _restart(self) -> None:
        """A new child, and every batch it has not acknowledged sent to it again, in order."""
        with self._send_lock:
            if self._process is not None:
                self._process.wait()
            if self._conn is not None:
                self._conn.close()  # the dead child's end
                self._conn = None
            while True:
                try:
                    conn = self._start_child()
                    break
                except Exception:
                    log.exception("restarting the writer process failed; retrying")
                    time.sleep(1.0)
            with self._state:  # (with the count: `_handle` tells a batch sent again by it)
                self.restarts += 1
                again = [payload for _, payload in self._unacked.values()]
                if self._uncased:  # stored already: the child skips the write, opens the cases
                    uncased = [pair for pairs in self._uncased.values() for pair in pairs]
                    again.insert(0, _encode(_Batch(next(reversed(self._uncased)), uncased, {})))
            for payload in again:
                conn.send_bytes(payload)
        log.warning("writer process restarted; %d batches sent again", len(again))

    def _handle(self, items: list[Pair], features: Features) -> None:
        with self._state:
            self._seq += 1
            seq = self._seq
        payload = _encode(_Batch(seq, items, features))
        with self._state:
            self._unacked[seq] = (items, payload)
            restarts = self.restarts
        while True:
            with self._send_lock:
                if self.restarts != restarts:  # a restart since sent it again, with the rest
                    return
                conn = self._conn
                try:
                    if conn is None:
                        raise OSError("no writer process")
                    conn.send_bytes(payload)
                    return
                except OSError:
                    pass  # the reader restarts the child and sends every unacked batch again
            if self._closed and conn is None:
                return
            time.sleep(0.05)
            with self._state:
                if seq not in self._unacked:
                    return

    def _read_loop(self) -> None:
        while True:
            conn = self._conn
            try:
                if conn is None:
                    raise EOFError
                ack = _ack_decoder.decode(conn.recv_bytes())
            except (EOFError, OSError):
                with self._state:
                    if self._closed:
                        return
                log.error("the writer process stopped (exit code %s)", self._exitcode())
                self._restart()
                continue
            if ack.cases:
                with self._state:
                    while self._uncased and next(iter(self._uncased)) <= ack.seq:
                        self._uncased.popitem(last=False)
                continue
            if not ack.stored:
                self.failures += 1
                log.error("the writer process could not store a batch: %s; retrying", ack.error)
                continue
            with self._state:
                items, _ = self._unacked.pop(ack.seq, ([], b""))
            flagged = [pair for pair in items if pair[1].outcome is not Outcome.APPROVE]
            if flagged:  # (this thread alone restarts the child: no resend in between)
                with self._state:
                    self._uncased[ack.seq] = flagged
            self._done(items)

    def _exitcode(self) -> int | None:
        return None if self._process is None else self._process.poll()


class Inbox:
    """The child's side of the pipe, read by a thread of its own into a queue.

    While the child writes one transaction, the batches sent meanwhile are read and decoded
    here, so the next transaction joins all of them. Read only between commits, the pipe would
    hold one message, taken by the parent when its queue had just been emptied: the child
    then alternated a commit of one batch with one of the rest."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._batches: deque[_CheckedBatch] = deque()
        self._size = 0  # decisions in `_batches`
        self._ended = False  # the parent asked to stop, or went away
        self._state = threading.Condition()
        threading.Thread(target=self._read, name="writer-inbox", daemon=True).start()

    def _read(self) -> None:
        try:
            while message := receive(self._conn.fileno()):  # empty: stop
                batch = _batch_decoder.decode(message)
                with self._state:
                    self._batches.append(batch)
                    self._size += len(batch.pairs)
                    self._state.notify()
        except (EOFError, OSError):
            pass
        with self._state:
            self._ended = True
            self._state.notify()

    @property
    def waiting(self) -> int:
        """Decisions read and not yet taken."""
        with self._state:
            return self._size

    def take(
        self, limit: int, due: float, until: float | None = None
    ) -> tuple[list[_CheckedBatch], bool]:
        """Waits for a batch, then for more until `due` (monotonic; not at all once it has
        passed) or until `limit` decisions have come, and returns the batches that hold at
        most `limit` (the first whatever its size), with whether the stream has ended (then
        nothing more will come). With `until` (monotonic), it waits for the first batch only
        until then, and may return none while the stream goes on."""
        with self._state:
            if not self._state.wait_for(
                lambda: self._batches or self._ended,
                None if until is None else max(0.0, until - time.monotonic()),
            ):
                return [], False
            while self._size < limit and not self._ended:
                left = due - time.monotonic()
                if left <= 0 or not self._state.wait(left):
                    break
            taken = [self._batches.popleft()] if self._batches else []
            size = len(taken[0].pairs) if taken else 0
            while self._batches and size + len(self._batches[0].pairs) <= limit:
                size += len(self._batches[0].pairs)
                taken.append(self._batches.popleft())
            self._size -= size
            return taken, self._ended and not self._batches


def receive(fd: int) -> bytearray:
    """The next message `Connection.send_bytes` sent on `fd`, read into one buffer of its size.

    `Connection.recv_bytes` reads a large message in the pieces the socket holds, each read
    asking for a new buffer as large as what is still to come, then copies the pieces
    together. Reading the writer's messages (0.57 to 5.7 MB, 2 to 20 a second) cost
    0.6-3.2 µs of CPU per decided transaction that way, 0.4-0.6 this way (docs/benchmarks.md).
    Raises `EOFError` when the other end has closed."""
    head = bytearray(4)
    _fill(fd, memoryview(head))
    (size,) = struct.unpack("!i", head)
    if size == -1:  # over 2 GiB: the length follows in 8 bytes
        head = bytearray(8)
        _fill(fd, memoryview(head))
        (size,) = struct.unpack("!Q", head)
    message = bytearray(size)
    _fill(fd, memoryview(message))
    return message


def _fill(fd: int, view: memoryview) -> None:
    done = 0
    while done < len(view):
        got = os.readv(fd, [view[done:]])
        if got == 0:
            raise EOFError("the writer's pipe was closed")
        done += got


def child_main(conn: Connection, join_limit: int, project: bool, nice: int = 0) -> None:
    """The writer process: store each batch it receives (joining those waiting into one
    transaction), acknowledge it, then open cases from it; until the pipe closes. With
    `project`, a thread keeps the dashboard's rollups; `nice` lowers its priority."""
    if nice > 0:
        os.nice(nice)
    from fraudwatch.alerts.dispatcher import AlertRouter
    from fraudwatch.analytics.projector import Projector
    from fraudwatch.bootstrap import bootstrap
    from fraudwatch.cases.service import CaseService

    logging.basicConfig(format="%(asctime)s writer %(levelname)s %(message)s")
    settings: Settings = pickle.loads(conn.recv_bytes())  # noqa: S301 - our parent, a private socket
    app = bootstrap(settings)
    store = app.store
    background = getattr(store, "checkpoint_in_background", None)
    if background is not None:  # SQLite: the fsync of a checkpoint no longer stalls the writes
        background(wal_limit_bytes=settings.store_wal_limit_mb * 1024 * 1024)
    restart_log = getattr(store, "restart_log_if_due", None)
    cases = CaseService(store.engine)
    router = (
        AlertRouter(settings.alert_routes, settings.alert_channels)
        if settings.alert_routes
        else None
    )
    projector = Projector(store.engine) if project else None
    if projector is not None:
        projector.start()
    flagged: list[Pair] = []  # stored, their cases not opened yet
    flagged_upto = 0  # the last batch with some of them
    cases_due: float | None = None  # when to open them (monotonic)

    def open_cases() -> None:
        nonlocal flagged, cases_due
        try:
            cases.ingest(flagged)
            with contextlib.suppress(OSError):  # the parent keeps them until it hears this
                conn.send_bytes(_encode(_Ack(flagged_upto, True, cases=True)))
        except Exception:  # cases are caught up at the next start (catch_up_cases)
            log.exception("opening cases for %d decisions failed", len(flagged))
        flagged, cases_due = [], None

    quiet_garbage_collector()
    conn.send_bytes(b"ready")
    inbox = Inbox(conn)  # batches sent meanwhile wait in it
    store.maintain(finish=True)  # SQLite: what an earlier writer left unindexed (a crash, a stop)
    stopping = False
    interval = settings.store_commit_interval_s
    committed = 0.0  # when the last commit started (monotonic)
    try:
        while not stopping:
            # What arrived while the last batch was written, or soon after (when idle).
            batches, stopping = inbox.take(join_limit, committed + interval, cases_due)
            if not batches:  # cases due while no batch came; or stop, or the parent is gone
                if flagged:
                    open_cases()
                if stopping:
                    return
                continue
            pairs = [pair for batch in batches for pair in batch.pairs]
            features = {tid: f for batch in batches for tid, f in batch.features.items()}
            committed = time.monotonic()
            write = write_batch(pairs, features, router)
            delay = 0.1
            while True:
                try:
                    store.write(write)
                    break
                except Exception as exc:  # a database hiccup: retry, the write is idempotent
                    log.exception("writing %d decisions failed; retrying", len(pairs))
                    conn.send_bytes(_encode(_Ack(batches[0].seq, False, type(exc).__name__)))
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
            try:
                for batch in batches:
                    conn.send_bytes(_encode(_Ack(batch.seq, True)))
            except OSError:  # the parent is gone: no one waits for these acknowledgements
                return
            fresh = [pair for pair in pairs if pair[1].outcome is not Outcome.APPROVE]
            if fresh:
                if not flagged:
                    cases_due = time.monotonic() + CASES_EVERY_S
                flagged += fresh
                flagged_upto = max(flagged_upto, *(batch.seq for batch in batches))
            if cases_due is not None and (stopping or time.monotonic() >= cases_due):
                open_cases()
            store.maintain()  # SQLite: the next part of the entity index, in key order
            if restart_log is not None:  # SQLite: start an over-long log over, between writes
                try:
                    restart_log()
                except Exception:  # the log grows on meanwhile; the next batch tries again
                    log.exception("restarting the write-ahead log failed")
    finally:
        if flagged:  # stored before the stop (after a kill, the next start opens them)
            open_cases()
        if projector is not None:
            projector.stop()
        app.close()


if __name__ == "__main__":
    child_main(
        Connection(int(sys.argv[1])), int(sys.argv[2]), sys.argv[3] == "project", int(sys.argv[4])
    )
