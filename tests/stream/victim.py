"""A worker that stalls for good right after publishing its first batch, before committing it:
the moment a crash costs the most (the batch is stored and published but will be read again).
The kill test SIGKILLs it there. Everything else is the real worker on the real broker.

    python -m tests.stream.victim BOOTSTRAP HOME GROUP TOPIC DECISIONS MARKER
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from fraudwatch.bootstrap import bootstrap
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import load_settings
from fraudwatch.stream.kafka import KafkaConsumer, KafkaProducer
from fraudwatch.stream.worker import StreamWorker, Topics


class StallAfterPublish(KafkaProducer):
    def __init__(self, bootstrap_servers: str, marker: Path) -> None:
        super().__init__(bootstrap_servers)
        self.marker = marker

    def flush(self, timeout_s: float) -> None:
        super().flush(timeout_s)
        self.marker.write_text("published, not committed")
        time.sleep(120)  # killed here


def main() -> None:
    bootstrap_servers, home, group, topic, decisions, marker = sys.argv[1:7]
    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("fraudwatch.stream").setLevel(logging.INFO)
    app = bootstrap(load_settings(home=Path(home), warmup_days=0))
    service = ScoringService(app, writer=app.settings.store_writer)  # a writer process, as served
    consumer = KafkaConsumer(
        bootstrap_servers, group=group, topics=[topic], session_timeout_ms=2000
    )
    worker = StreamWorker(
        service,
        consumer,
        StallAfterPublish(bootstrap_servers, Path(marker)),
        app.tokenizer,
        topics=Topics((topic,), decisions, f"{topic}.dead"),
        batch_size=50,
    )
    worker.run()


if __name__ == "__main__":
    main()
