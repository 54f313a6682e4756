"""The scoring service: what the API and the streaming worker share.

It assembles the pipeline from the container (store, control plane, feature engine warmed up
with recent stored history, rules, thresholds, the model when one is given), and adds what a
client relies on around it: idempotency on `transaction_id` (a transaction already decided gets
its first decision back and never updates the features twice — checked in memory against every
transaction this scorer replayed at start-up or decided since, so a new transaction costs no
database read), labels and logins, and the batched writer that stores transactions and
decisions off the request path. Several scorers behind one API share decisions through the
store (the first decision of a transaction is the one stored).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import exists, select

from fraudwatch.alerts.dispatcher import AlertDispatcher, AlertRouter
from fraudwatch.bootstrap import Container
from fraudwatch.cases.service import CaseService
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.decisions.policy import Thresholds
from fraudwatch.events.model import Label, Login, Transaction, content_hash
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.history import load_history_from_store
from fraudwatch.features.online import online_engine
from fraudwatch.rules.language import Vocabulary
from fraudwatch.rules.model import RuleSet
from fraudwatch.rules.starter import starter_rule_set
from fraudwatch.rules.vocabulary import vocabulary
from fraudwatch.runtime import ShardedDict
from fraudwatch.scoring.events import DecisionEvents
from fraudwatch.scoring.logins import LoginAssessment, LoginRisk
from fraudwatch.scoring.pipeline import DecisionPipeline, FeatureEngine, RiskModel
from fraudwatch.scoring.rulebook import Rulebook
from fraudwatch.scoring.seen import SeenIds
from fraudwatch.scoring.writer import DecisionWriter, Listener, Pair
from fraudwatch.scoring.writer_process import ProcessWriter
from fraudwatch.settings import Settings
from fraudwatch.storage import tables as t
from fraudwatch.storage.model import WriteBatch
from fraudwatch.storage.urls import in_memory

log = logging.getLogger(__name__)
RECENT = 1_000_000  # decisions kept in memory for idempotent replies
_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(Decision).decode


def make_engine(feature_set: FeatureSet, allowed_lateness_s: int) -> FeatureEngine:
    """The in-process feature engine (the native one)."""
    engine: FeatureEngine = online_engine(feature_set, allowed_lateness_s=allowed_lateness_s)
    return engine


class ScoringService:
    def __init__(
        self,
        app: Container,
        *,
        model: RiskModel | None = None,
        thresholds: Thresholds | None = None,
        feature_set: FeatureSet | None = None,
        on_stored: Listener | None = None,
        writer: str = "thread",
        writer_nice: int = 0,
    ) -> None:
        """`writer`: "thread" stores decisions from a thread of this process, "process" from a
        child process (`writer_process.py`: the write off this process's GIL; needs a database
        other processes can open, not an in-memory one), whose priority is `writer_nice` lower
        than this process's."""
        settings = app.settings
        self.app = app
        self.feature_set = feature_set or default_feature_set()
        self.control = app.control
        self.store = app.store
        self.locator = default_locator()
        self.logins = LoginRisk(self.locator)
        self.engine = make_engine(self.feature_set, settings.allowed_lateness_s)
        self.rulebook = Rulebook(self.control, self.vocabulary_for, fallback=starter_rule_set())
        self.thresholds = thresholds or _thresholds(settings, model)
        self.pipeline = DecisionPipeline(
            self.engine,
            self.locator,
            self.rulebook,
            self.thresholds,
            model=model,
            logins=self.logins,
        )
        self.router = (
            AlertRouter(settings.alert_routes, settings.alert_channels)
            if settings.alert_routes
            else None
        )
        self.dispatcher = (
            AlertDispatcher(self.store.engine, settings.alert_channels)
            if settings.alert_channels
            else None
        )
        self.cases = CaseService(self.store.engine)
        self.events = DecisionEvents()  # DecisionMade, after the store write, off the hot path
        if on_stored is not None:
            self.events.subscribe("on_stored", on_stored)
        self.writer: DecisionWriter | ProcessWriter
        if writer == "process" and in_memory(settings.resolved_database_url):
            writer = "thread"  # another process cannot open this database
        self.projects_dashboard = False  # the writer process keeps the dashboard's rollups
        if writer == "process":  # the child opens the cases and writes the alert outbox
            self.projects_dashboard = settings.dashboard_projector
            self.writer = ProcessWriter(
                settings,
                on_stored=self.events.publish,
                project=self.projects_dashboard,
                nice=writer_nice,
            )
        elif writer == "thread":
            self.events.subscribe("cases", self.cases.ingest)
            self.writer = DecisionWriter(
                self.store, on_stored=self.events.publish, router=self.router
            )
        else:
            raise ValueError(f"writer must be 'thread' or 'process', not {writer!r}")
        # Decisions kept for idempotent replies, msgpack-encoded: a million Decision objects
        # (each with its lists and dict) would be five million objects for the cyclic garbage
        # collector to scan, and its full collections paused the event loop for 100+ ms. In
        # parts, each keeping its newest: one ordered dict's rebuild stalled the loop 38-45 ms.
        self._recent: ShardedDict[str, bytes] = ShardedDict(limit=RECENT)
        # Transaction ids in the features, replayed or decided: bounded memory (scoring/seen.py).
        self._seen = SeenIds(settings.seen_ids_capacity)
        self._lock = threading.Lock()
        self.warmed_up = 0

    @classmethod
    def with_champion(
        cls, app: Container, *, writer: str = "thread", writer_nice: int = 0
    ) -> ScoringService:
        """The service with the registry's champion model (rules-only when there is none);
        thresholds from the settings, else the ones the model was trained with."""
        from fraudwatch.scoring.model import champion

        feature_set = default_feature_set()
        model = champion(app.settings, feature_set.names)
        return cls(
            app, model=model, feature_set=feature_set, writer=writer, writer_nice=writer_nice
        )

    def vocabulary_for(self, rule_set: RuleSet) -> Vocabulary:
        return vocabulary(self.feature_set, set(rule_set.lists))

    @property
    def model(self) -> RiskModel | None:
        return self.pipeline.model

    def warm_up(self, days: int, progress: Callable[[int], None] | None = None) -> int:
        """Replay the last `days` of stored history (counted back from the newest stored
        transaction) into the features, so they are as if the scorer had run all along."""
        newest = self.store.find_transactions(limit=1)
        if days <= 0 or not newest:
            return 0
        start = newest[0].event_time - timedelta(days=days)
        history = load_history_from_store(self.store, self.locator, start=start)
        self.warmed_up = self.pipeline.replay(history.stream, progress)
        make_room = getattr(self.engine, "make_room", None)  # the native engine's arrays
        if make_room is not None:
            make_room(self.warmed_up)  # room for as much again: no growth soon after start
        self._seen.add([row.transaction_id for row in history.transactions])
        self.catch_up_cases(start)
        return self.warmed_up

    def catch_up_cases(self, since: datetime) -> int:
        """Put flagged decisions stored since `since` but in no case yet (the process stopped
        between storing them and delivering their DecisionMade events) into their cases."""
        d, members = t.decisions.c, t.case_decisions.c
        query = (
            select(d.transaction_id)
            .where(
                d.outcome.in_([o.value for o in Outcome if o is not Outcome.APPROVE]),
                d.event_time >= since,
                ~exists().where(members.transaction_id == d.transaction_id),
            )
            .order_by(d.event_time)
        )
        with self.store.engine.connect() as conn:
            missing = [row[0] for row in conn.execute(query)]
        pairs: list[Pair] = []
        for tid in missing:
            decision = self.store.get_decision(tid)
            if decision is not None:
                pairs.append((self.store.get_transaction(tid), decision))
        if pairs:
            log.warning("%d flagged decisions had no case yet: adding them", len(pairs))
            for start in range(0, len(pairs), 1000):
                self.cases.ingest(pairs[start : start + 1000])
        return len(pairs)

    def start(self, poll_s: float) -> None:
        self.rulebook.start(poll_s)
        if self.dispatcher is not None:
            self.dispatcher.start()

    def close(self) -> None:
        self.rulebook.stop()
        self.writer.close()
        self.events.close()  # what the last batches raised: cases, subscribers
        if self.dispatcher is not None:
            self.dispatcher.run_once()  # what the last batch raised, before stopping
            self.dispatcher.stop()

    # -- use cases ------------------------------------------------------------------------------

    def score(self, transactions: Sequence[Transaction]) -> list[Decision]:
        """A decision per transaction; ones decided before get their first decision back."""
        known = self._known([tx.transaction_id for tx in transactions])
        fresh: list[Transaction] = []
        seen: set[str] = set()
        for tx in transactions:
            if tx.transaction_id not in known and tx.transaction_id not in seen:
                seen.add(tx.transaction_id)
                fresh.append(tx)
        decided, features = self.pipeline.score_detailed(fresh) if fresh else ([], {})
        with self._lock:
            for decision in decided:
                self._recent[decision.transaction_id] = _pack(decision)
            self._seen.add([decision.transaction_id for decision in decided])
        if decided:
            self.writer.submit(list(zip(fresh, decided, strict=True)), features)
        by_id = {**known, **{d.transaction_id: d for d in decided}}
        return [by_id[tx.transaction_id] for tx in transactions]

    def _known(self, ids: Sequence[str]) -> dict[str, Decision]:
        """Decisions already made for `ids`: from memory, else (for transactions this scorer
        may have replayed or decided earlier) from the store. No database read for a new
        transaction, but for the rare false positive of the seen-ids filter."""
        found: dict[str, Decision] = {}
        older: list[str] = []
        with self._lock:
            for tid in ids:
                packed = self._recent.get(tid)
                if packed is not None:
                    found[tid] = _unpack(packed)
                else:
                    older.append(tid)
            maybe = self._seen.maybe(older)
        stored_earlier = [tid for tid, seen in zip(older, maybe, strict=True) if seen]
        for tid in stored_earlier:
            stored = self.store.get_decision(tid)
            if stored is not None:
                found[tid] = stored
        return found

    def decision(self, transaction_id: str) -> Decision | None:
        with self._lock:
            recent = self._recent.get(transaction_id)
        return _unpack(recent) if recent is not None else self.store.get_decision(transaction_id)

    def label(self, labels: Sequence[Label]) -> int:
        """Store labels (idempotent) and feed them to the label-aware features."""
        self.store.write(WriteBatch(labels=[(label, content_hash(label)) for label in labels]))
        self.pipeline.label(labels)
        return len(labels)

    def login(self, login: Login) -> LoginAssessment:
        assessment = self.logins.assess(login)
        self.store.write(WriteBatch(logins=[(login, content_hash(login))]))
        return assessment

    def ready(self) -> dict[str, object]:
        started = time.perf_counter()
        self.store.load_checkpoints("readiness probe:")  # a round trip (no key starts so)
        return {
            "database_ms": round((time.perf_counter() - started) * 1000, 2),
            "rules_version": self.rulebook.version,
            "mode": self.pipeline.mode,
            "writer_backlog": self.writer.backlog,
            "events_backlog": self.events.backlog,
        }


def _thresholds(settings: Settings, model: RiskModel | None) -> Thresholds:
    """Each threshold from the settings when set there, else the one the model chose on its
    validation period (`models/operating.py`), else the fixed defaults."""
    bundle = getattr(model, "bundle", None)
    trained = bundle.thresholds if bundle is not None else Thresholds(0.3, 0.6, 0.9)
    return Thresholds(
        settings.review_threshold if settings.review_threshold is not None else trained.review,
        settings.step_up_threshold if settings.step_up_threshold is not None else trained.step_up,
        settings.block_threshold if settings.block_threshold is not None else trained.block,
    )
