"""Driving workers and reading topics on a real broker, for the Kafka tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import confluent_kafka

from fraudwatch.bootstrap import bootstrap
from fraudwatch.settings import load_settings


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def prepare_home(home: Path) -> None:
    """Keys and schema made once, before several processes open the same home."""
    app = bootstrap(load_settings(home=home, warmup_days=0))
    _ = app.tokenizer, app.store
    app.close()


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env.update(FRAUDWATCH_HOME=str(home), FRAUDWATCH_WARMUP_DAYS="0")
    return env


def fraudwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "fraudwatch.cli.main", *args]


def start_worker(
    home: Path, log: Path, bootstrap_servers: str, *options: str
) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            fraudwatch("worker", "--bootstrap-servers", bootstrap_servers, "--json", *options),
            env=cli_env(home),
            stdout=subprocess.PIPE,
            stderr=err,
        )


def wait_for(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def read_topic(
    bootstrap_servers: str, topic: str, *, at_least: int, timeout_s: float = 30
) -> list[tuple[int, int, bytes, bytes]]:
    """(partition, offset, key, value) of every message of `topic`: read until `at_least`
    arrived and then nothing more for a second. (Tansu reports the base offset of the last
    record batch as the high watermark, so the watermarks cannot tell where a partition ends.)"""
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": unique("reader"),
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign(
            [
                confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
                for p in partitions
            ]
        )
        out: list[tuple[int, int, bytes, bytes]] = []
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10_000, timeout=0.2)
            for m in batch:
                if m.error() is None:
                    out.append((m.partition(), m.offset(), m.key() or b"", m.value() or b""))
            if batch:
                quiet_since = time.monotonic()
            elif len(out) >= at_least and time.monotonic() - quiet_since > 1.0:
                break
        assert len(out) >= at_least, f"read {len(out)} of at least {at_least} messages of {topic}"
        return out
    finally:
        consumer.close()


def ends_of(messages: list[tuple[int, int, bytes, bytes]]) -> dict[int, int]:
    """Per partition, the offset after the last message read."""
    ends: dict[int, int] = {}
    for partition, offset, _, _ in messages:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    return ends


def committed(bootstrap_servers: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition that has one."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap_servers, "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [confluent_kafka.TopicPartition(topic, p) for p in partitions]
        return {
            tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10) if tp.offset >= 0
        }
    finally:
        consumer.close()
