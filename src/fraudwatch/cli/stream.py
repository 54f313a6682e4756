"""`fraudwatch worker` (score a Kafka topic in a consumer group) and `fraudwatch produce` (the
load producer: JSON lines of canonical events onto a topic, keyed by card token)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from fraudwatch.cli.common import JsonOption, container
from fraudwatch.cli.output import emit_json, err_console, table
from fraudwatch.settings import Settings

Bootstrap = Annotated[
    str, typer.Option("--bootstrap-servers", help="Kafka bootstrap servers, host:port[,...].")
]
Partitions = Annotated[
    int, typer.Option(min=1, help="Partitions of topics created when missing (scale-out unit).")
]
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
EVENTS_TOPIC = "fraudwatch.transactions"


def worker_command(
    bootstrap_servers: Bootstrap = DEFAULT_BOOTSTRAP,
    group: Annotated[str, typer.Option(help="Consumer group shared by the workers.")] = (
        "fraudwatch-scorers"
    ),
    topic: Annotated[
        list[str] | None,
        typer.Option(help="Topic of transactions, labels and logins (repeat for several)."),
    ] = None,
    decisions_topic: Annotated[str, typer.Option(help="Where decisions go.")] = (
        "fraudwatch.decisions"
    ),
    dead_letter_topic: Annotated[str, typer.Option(help="Where poison messages go.")] = (
        "fraudwatch.dead-letters"
    ),
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            max=100_000,
            help="Largest batch (a batch is what is queued: large only under a backlog, where "
            "large batches are cheaper per transaction).",
        ),
    ] = 5000,
    max_messages: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many messages.")
    ] = None,
    idle_exit_s: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Stop after this many seconds without a message (the first one is awaited "
            "for at least 60 s: joining the group takes seconds).",
        ),
    ] = None,
    warmup_days: Annotated[
        int | None, typer.Option(min=0, help="Days of stored history replayed into the features.")
    ] = None,
    partitions: Partitions = 8,
    session_timeout_ms: Annotated[
        int, typer.Option(min=500, help="A silent worker's partitions move after this long.")
    ] = 10_000,
    json_output: JsonOption = False,
) -> None:
    """Score the events of a Kafka topic as one worker of a consumer group: decisions are stored,
    then published, then the offsets committed. SIGTERM or Ctrl-C finishes the batch in hand."""
    from fraudwatch.runtime import quiet_garbage_collector
    from fraudwatch.scoring.service import ScoringService
    from fraudwatch.stream.kafka import KafkaConsumer, KafkaProducer, ensure_topics
    from fraudwatch.stream.worker import StreamWorker, Topics, WorkerStats

    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("fraudwatch.stream").setLevel(logging.INFO)  # assignments, store waits
    topics = Topics(tuple(topic or [EVENTS_TOPIC]), decisions_topic, dead_letter_topic)
    with container() as app:
        app.settings = worker_settings(app.settings)
        ensure_topics(
            bootstrap_servers,
            {name: partitions for name in (*topics.events, decisions_topic, dead_letter_topic)},
        )
        service = ScoringService.with_champion(app, writer=app.settings.store_writer)
        days = app.settings.warmup_days if warmup_days is None else warmup_days
        replayed = service.warm_up(days)
        service.start(app.settings.rules_poll_s)
        mode = "rules-only (no trained model)" if service.model is None else "model"
        err_console.print(
            f"worker: {mode}, rules {service.rulebook.version or 'none'}, "
            f"{replayed:,} stored transactions replayed ({days} days)"
        )
        quiet_garbage_collector(100_000, 1000)  # after warm-up
        consumer = KafkaConsumer(
            bootstrap_servers,
            group=group,
            topics=topics.events,
            session_timeout_ms=session_timeout_ms,
        )
        producer = KafkaProducer(bootstrap_servers)
        worker = StreamWorker(
            service, consumer, producer, app.tokenizer, topics=topics, batch_size=batch_size
        )

        def _stop(signum: int, _: FrameType | None) -> None:
            err_console.print(f"{signal.Signals(signum).name}: finishing the batch in hand")
            worker.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

        def _progress(stats: WorkerStats) -> None:
            err_console.print(
                f"{stats.consumed:,} consumed, {stats.transactions:,} decided, "
                f"{stats.dead_lettered:,} dead-lettered, lag {stats.lag}"
            )

        try:
            stats = worker.run(
                max_messages=max_messages, idle_exit_s=idle_exit_s, progress=_progress
            )
        finally:
            consumer.close()
            producer.close()
            service.close()
    summary = {"group": group, "topics": list(topics.events), "mode": mode, **stats.as_dict()}
    if json_output:
        emit_json(summary)
    else:
        latency = stats.percentiles() or {}
        table(
            "worker",
            ["what", "value"],
            [
                ["messages consumed", stats.consumed],
                ["transactions decided", stats.transactions],
                ["labels / logins", f"{stats.labels:,} / {stats.logins:,}"],
                ["dead-lettered", stats.dead_lettered],
                ["transactions/s", summary["transactions_per_second"]],
                *[[f"latency {k} (ms)", v] for k, v in latency.items()],
            ],
        )


def produce_command(
    path: Annotated[Path, typer.Argument(help="JSON lines of canonical events; - for stdin.")],
    bootstrap_servers: Bootstrap = DEFAULT_BOOTSTRAP,
    topic: Annotated[str, typer.Option(help="Topic to produce to.")] = EVENTS_TOPIC,
    rate: Annotated[
        float | None, typer.Option(min=1, help="Messages per second (default: as fast as it can).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Send at most this many.")] = None,
    partitions: Partitions = 8,
    json_output: JsonOption = False,
) -> None:
    """Load canonical events onto a topic, keyed by card token (logins by customer, labels by
    transaction); card numbers are tokenised before they leave this command."""
    from fraudwatch.errors import FraudwatchError
    from fraudwatch.stream.kafka import KafkaProducer, ensure_topics
    from fraudwatch.stream.load import produce_lines

    if str(path) != "-" and not path.is_file():
        raise FraudwatchError(f"{path}: no such file", code="not_found")
    with container() as app:
        ensure_topics(bootstrap_servers, {topic: partitions})
        producer = KafkaProducer(bootstrap_servers)
        with sys.stdin.buffer if str(path) == "-" else path.open("rb") as lines:
            report = produce_lines(lines, producer, topic, app.tokenizer, rate=rate, limit=limit)
        producer.close()
    if json_output:
        emit_json({"topic": topic, **report.as_dict()})
    else:
        err_console.print(
            f"{report.produced:,} messages to {topic} in {report.seconds:.1f} s "
            f"({report.invalid:,} not valid events, sent for dead-lettering)"
        )


def worker_settings(settings: Settings) -> Settings:
    """The worker's settings, where they differ from the API's unless set explicitly:

    - produced -> stored and published is its latency, so its writer commits each batch as it
      comes (joining only what waits while it falls behind; `store_commit_interval_s` 0),
      instead of at most every 0.25 s;
    - it does not keep the dashboard's rollups (`dashboard_projector` off): a deployment runs
      one projector (in `fraudwatch serve`, or `fraudwatch projector`), not one per worker. In
      each worker's writer process it took 8 to 23 % of the Kafka path's drain throughput
      (docs/streaming.md)."""
    update: dict[str, object] = {}
    if "store_commit_interval_s" not in settings.model_fields_set:
        update["store_commit_interval_s"] = 0.0
    if "dashboard_projector" not in settings.model_fields_set:
        update["dashboard_projector"] = False
    return settings.model_copy(update=update) if update else settings
