"""The worker against a real Kafka-protocol broker (Tansu, started on loopback by a fixture):
the commands end to end, and several workers in one group, one of them killed mid-stream."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from contextlib import closing
from pathlib import Path

import msgspec

from fraudwatch.bootstrap import bootstrap
from fraudwatch.decisions.model import Decision
from fraudwatch.events.model import encode
from fraudwatch.settings import load_settings
from fraudwatch.stream.bus import Message
from fraudwatch.stream.kafka import KafkaConsumer, KafkaProducer, ensure_topics
from fraudwatch.stream.load import send
from tests.stream.conftest import keyed, transactions
from tests.stream.kafka_helpers import (
    cli_env,
    committed,
    ends_of,
    fraudwatch,
    prepare_home,
    read_topic,
    start_worker,
    unique,
    wait_for,
)

VALID_PAN = "4111111111111111"
SESSION = ("--session-timeout-ms", "2000")


def stored_decision_counts(home: Path) -> Counter[str]:
    """Decision rows per transaction, read straight from the SQLite file (read-only: polling it
    must not take the locks the workers write under)."""
    with closing(sqlite3.connect(f"file:{home / 'fraudwatch.db'}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT transaction_id, count(*) FROM decisions GROUP BY 1")
        return Counter({tid: n for tid, n in rows})


def check_published_equal_stored(
    home: Path, published: list[tuple[int, int, bytes, bytes]]
) -> Counter[str]:
    """Every published decision equals the stored one; returns copies per transaction."""
    app = bootstrap(load_settings(home=home, warmup_days=0))
    try:
        copies: Counter[str] = Counter()
        for _, _, key, value in published:
            decision = msgspec.json.decode(value, type=Decision)
            assert key == decision.transaction_id.encode()
            assert decision == app.store.get_decision(decision.transaction_id)
            copies[decision.transaction_id] += 1
        return copies
    finally:
        app.close()


def test_produce_and_worker_commands_end_to_end(tansu: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    prepare_home(home)
    topic, decisions, dead, group = (unique(n) for n in ("tx", "decisions", "dead", "g"))
    events = transactions(200, cards=13)
    lines = [encode(e) for e in events]
    with_pan = msgspec.to_builtins(events[0])
    with_pan.update(transaction_id="tx-pan", card={"number": VALID_PAN})
    lines += [msgspec.json.encode(with_pan), b"{broken", b'{"type":"transaction"}']
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")

    produced = subprocess.run(
        fraudwatch(
            "produce",
            str(source),
            "--bootstrap-servers",
            tansu,
            "--topic",
            topic,
            "--partitions",
            "3",
            "--json",
        ),
        env=cli_env(home),
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert json.loads(produced.stdout)["produced"] == 203
    ran = subprocess.run(
        fraudwatch(
            "worker",
            "--bootstrap-servers",
            tansu,
            "--group",
            group,
            "--topic",
            topic,
            "--decisions-topic",
            decisions,
            "--dead-letter-topic",
            dead,
            "--max-messages",
            "203",
            "--idle-exit-s",
            "20",
            *SESSION,
            "--json",
        ),
        env=cli_env(home),
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr.decode()[-2000:]
    summary = json.loads(ran.stdout)
    assert (summary["transactions"], summary["dead_lettered"]) == (201, 2)
    assert summary["latency_ms"]["p99"] > 0

    published = read_topic(tansu, decisions, at_least=201)
    copies = check_published_equal_stored(home, published)
    assert set(copies) == {e.transaction_id for e in events} | {"tx-pan"}
    assert set(copies.values()) == {1}
    consumed = read_topic(tansu, topic, at_least=203)
    assert VALID_PAN.encode() not in b"".join(m[3] for m in consumed)
    assert len(read_topic(tansu, dead, at_least=2)) == 2
    assert committed(tansu, group, topic) == ends_of(consumed)


def test_killing_a_worker_mid_stream_loses_and_duplicates_no_decision(
    tansu: str, tmp_path: Path
) -> None:
    """Two workers share a 4-partition topic while transactions flow. One of them (the real
    worker with a producer that stalls after its first publish) is SIGKILLed after storing and
    publishing a batch but before committing it; a replacement starts. Every transaction ends
    with exactly one stored decision; the batch read again is answered from the store, so its
    decisions are published twice (at-least-once), both copies equal to the stored one."""
    home = tmp_path / "home"
    prepare_home(home)
    topic, decisions, group = unique("tx"), unique("decisions"), unique("g")
    ensure_topics(tansu, {topic: 4, decisions: 4})
    options = (
        "--group",
        group,
        "--topic",
        topic,
        "--decisions-topic",
        decisions,
        "--batch-size",
        "50",
        *SESSION,
    )
    logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
    marker = tmp_path / "victim-published"
    with logs[0].open("wb") as err:
        victim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.stream.victim",
                tansu,
                str(home),
                group,
                topic,
                decisions,
                str(marker),
            ],
            env=cli_env(home),
            stderr=err,
        )
    workers = [victim, start_worker(home, logs[1], tansu, *options)]
    try:
        wait_for(
            lambda: all(b"assigned [" in log.read_bytes() for log in logs[:2]),
            60,
            "both workers to join the group",
        )
        events = transactions(3000, cards=97)
        producer = KafkaProducer(tansu)
        traffic = threading.Thread(  # two seconds of traffic
            target=send, args=([keyed(e) for e in events], producer, topic), kwargs={"rate": 1500}
        )
        traffic.start()
        wait_for(marker.exists, 30, "the victim to publish a batch")
        victim.send_signal(signal.SIGKILL)  # stored and published, not committed
        workers.append(start_worker(home, logs[2], tansu, *options))  # its replacement
        traffic.join(30)
        producer.close()
        wait_for(lambda: b"assigned [" in logs[2].read_bytes(), 60, "the replacement to join")
        wait_for(lambda: len(stored_decision_counts(home)) >= 3000, 60, "every decision stored")
        survivors = workers[1:]
        for worker in survivors:
            worker.send_signal(signal.SIGTERM)
        summaries = []
        for worker in survivors:
            out, _ = worker.communicate(timeout=30)
            assert worker.returncode == 0
            summaries.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
    assert victim.returncode == -signal.SIGKILL

    counts = stored_decision_counts(home)
    assert set(counts) == {e.transaction_id for e in events}  # none lost
    assert set(counts.values()) == {1}  # none stored twice
    published = read_topic(tansu, decisions, at_least=3000)
    copies = check_published_equal_stored(home, published)  # duplicates are identical
    assert set(copies) == set(counts)
    twice = sum(n > 1 for n in copies.values())
    assert 0 < twice <= 50  # the victim's uncommitted batch, and nothing else
    # Re-read and answered from the store: the victim's published batch, and at most the two
    # batches it had scored and stored behind it but not published (pipelined: it reads no
    # more while three batches wait for their store write or their delivery: `AHEAD`).
    replayed = sum(s["replayed"] for s in summaries)
    assert twice <= replayed <= twice + 100
    assert committed(tansu, group, topic) == ends_of(read_topic(tansu, topic, at_least=3000))


def test_a_consumer_knows_which_messages_came_with_its_partitions(tansu: str) -> None:
    """`handed_over`: the messages in a partition when it was assigned (an earlier owner may
    have decided them), not those produced after (read by this consumer alone)."""
    topic = unique("handover")
    ensure_topics(tansu, {topic: 2})
    producer = KafkaProducer(tansu)
    producer.produce_many(topic, [(f"k{i}".encode(), b"before") for i in range(6)])
    producer.flush(10)
    consumer = KafkaConsumer(tansu, group=unique("handover"), topics=[topic])
    got: list[Message] = []
    try:
        wait_for(lambda: got.extend(consumer.poll(100, 0.5)) or len(got) >= 6, 30, "6 messages")
        producer.produce_many(topic, [(f"k{i}".encode(), b"after") for i in range(6)])
        producer.flush(10)
        wait_for(lambda: got.extend(consumer.poll(100, 0.5)) or len(got) >= 12, 30, "12")
        assert len(got) == 12
        assert [consumer.handed_over(m) for m in got] == [m.value == b"before" for m in got]
    finally:
        consumer.close()
        producer.close()
