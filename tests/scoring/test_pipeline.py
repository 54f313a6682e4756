"""The decision pipeline end to end on real parts: the online feature engine, rules published
through the control plane (picked up without a restart), the policy, login risk, and the
decision writer storing into the embedded store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fraudwatch.control import ControlPlane
from fraudwatch.decisions.model import Outcome
from fraudwatch.decisions.policy import Thresholds
from fraudwatch.events.model import Card, Device, Label, Login, Transaction
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.enrich.ip import default_locator
from fraudwatch.features.online import OnlineEngine
from fraudwatch.rules import Action, Rule, RuleSet, vocabulary
from fraudwatch.scoring.logins import LoginRisk
from fraudwatch.scoring.pipeline import SCALAR_RULES_BELOW, DecisionPipeline
from fraudwatch.scoring.rulebook import Rulebook
from fraudwatch.scoring.writer import DecisionWriter
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.storage import EventStore, open_store
from tests.conftest import make_transaction

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FEATURES = default_feature_set()


def _vocabulary(rule_set: RuleSet):  # type: ignore[no-untyped-def]
    return vocabulary(FEATURES, set(rule_set.lists))


@pytest.fixture
def store(tmp_path: Path, keyring: KeyRing) -> Iterator[EventStore]:
    with open_store(f"sqlite:///{tmp_path / 'fw.db'}", keyring) as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def control(store: EventStore, keyring: KeyRing, tokenizer: CardTokenizer) -> ControlPlane:
    return ControlPlane(store.engine, keyring, tokenizer)


def _publish(control: ControlPlane, *rules: Rule) -> None:
    version = control.next_version()
    control.save_draft(RuleSet(version, rules, lists=frozenset({"blocked_cards"})), by="ana")
    control.publish(version, vocabulary(FEATURES, {"blocked_cards"}), by="ana")


def _pipeline(control: ControlPlane, logins: LoginRisk | None = None) -> DecisionPipeline:
    return DecisionPipeline(
        OnlineEngine(FEATURES),
        default_locator(),
        Rulebook(control, _vocabulary),
        Thresholds(0.3, 0.6, 0.9),
        logins=logins,
    )


def _tx(i: int, card: str = "a", amount: str = "20.00", minutes: float = 0) -> Transaction:
    return make_transaction(
        transaction_id=f"tx-{i}",
        event_time=T0 + timedelta(minutes=minutes),
        amount=Decimal(amount),
        card=Card(token="tok_" + card * 32, bin="411111", last4="1111"),
    )


def test_rules_only_decisions_and_a_rule_published_while_running(control: ControlPlane) -> None:
    _publish(control, Rule("big", "amount > 500", Action.REVIEW, 10))
    pipeline = _pipeline(control)
    assert pipeline.mode == "rules_only"
    first = pipeline.score([_tx(1, amount="900.00")])[0]
    assert first.outcome is Outcome.REVIEW and first.rules_hit == ["big"]
    assert first.model_version is None and first.ruleset_version == "1"
    assert first.reasons == ["rule big"]
    assert set(first.latency_ms) == {"features", "model", "rules", "policy", "reasons", "total"}

    _publish(control, Rule("burst", "tx_count_10m_by_card >= 3", Action.BLOCK, 0))
    assert pipeline.score([_tx(2, minutes=1)])[0].outcome is Outcome.APPROVE  # not yet reloaded
    assert pipeline.rulebook.refresh()
    third = pipeline.score([_tx(3, minutes=2)])[0]
    assert third.outcome is Outcome.BLOCK and third.rules_hit == ["burst"]
    assert third.ruleset_version == "2"


def test_a_list_change_applies_without_republishing(control: ControlPlane) -> None:
    _publish(control, Rule("listed", "card_token in blocked_cards", Action.BLOCK, 0))
    pipeline = _pipeline(control)
    assert pipeline.score([_tx(1, card="b")])[0].outcome is Outcome.APPROVE
    control.add_to_list("blocked_cards", ["tok_" + "b" * 32], by="ana")
    pipeline.rulebook.refresh()
    assert pipeline.score([_tx(2, card="b", minutes=1)])[0].outcome is Outcome.BLOCK


def test_a_batch_decides_exactly_as_one_by_one(control: ControlPlane) -> None:
    _publish(
        control,
        Rule("burst", "tx_count_1h_by_card >= 3", Action.STEP_UP, 20),
        Rule("spend", "amount_sum_1h_by_card > 100", Action.REVIEW, 15),
        Rule("shadowed", "amount >= 10", Action.BLOCK, 0, shadow=True),
    )
    txs = [_tx(i, card="abc"[i % 3], amount=f"{10 + 7 * i}.00", minutes=i) for i in range(12)]
    batch = _pipeline(control).score(list(reversed(txs)))  # any order: decided in time order
    single_pipeline = _pipeline(control)
    single = [single_pipeline.score([tx])[0] for tx in txs]
    assert [d.transaction_id for d in batch] == [tx.transaction_id for tx in reversed(txs)]
    by_id = {d.transaction_id: d for d in batch}
    for one in single:
        other = by_id[one.transaction_id]
        assert (other.outcome, other.risk_score, other.rules_hit, other.shadow_hits) == (
            one.outcome,
            one.risk_score,
            one.rules_hit,
            one.shadow_hits,
        )
    assert any(d.outcome is Outcome.STEP_UP for d in single)
    assert all(d.shadow_hits == ["shadowed"] for d in single)


def test_rules_read_the_bin_the_email_and_the_local_amount(control: ControlPlane) -> None:
    """Fields the rule language names that are not feature-row fields (the card's BIN, the
    e-mail lower-cased, the amount in its own currency): one transaction at a time and in a
    batch (the vectorised form, from `SCALAR_RULES_BELOW` rows) alike."""
    _publish(
        control,
        Rule("bin", 'card_bin == "999999"', Action.REVIEW, 10),
        Rule("email", 'customer_email == "mallory@example.com"', Action.STEP_UP, 20),
        Rule("local", 'amount_local > 5000 and currency == "JPY"', Action.REVIEW, 10),
    )

    def tx(i: int) -> Transaction:
        card = Card(token=f"tok_{i:032d}", bin="999999" if i % 3 == 0 else "411111")
        return make_transaction(
            transaction_id=f"tx-{i}", event_time=T0 + timedelta(seconds=i), card=card,
            customer_email="Mallory@Example.com" if i % 4 == 0 else "bob@example.com",
            amount=Decimal("6000") if i % 5 == 0 else Decimal("100"),
            currency="JPY" if i % 2 == 0 else "EUR",
        )  # fmt: skip

    txs = [tx(i) for i in range(SCALAR_RULES_BELOW + 2)]
    batch = _pipeline(control).score(txs)
    one = _pipeline(control)
    single = [one.score([t])[0] for t in txs]
    expected = [
        [name for name, fires in (("bin", i % 3 == 0), ("email", i % 4 == 0),
                                  ("local", i % 10 == 0)) if fires]
        for i in range(len(txs))
    ]  # fmt: skip
    assert [sorted(d.rules_hit) for d in single] == expected
    assert [sorted(d.rules_hit) for d in batch] == expected


def test_login_risk_feeds_transaction_scoring(control: ControlPlane) -> None:
    _publish(control, Rule("risky_login", "login_risk_1h >= 0.5", Action.STEP_UP, 0))
    logins = LoginRisk(default_locator())
    pipeline = _pipeline(control, logins)
    home = Login(
        login_id="l1", customer_id="cust-1", event_time=T0 - timedelta(hours=3),
        latitude=52.37, longitude=4.90, country="NL", device=Device(id="d1"),
    )  # fmt: skip
    away = Login(
        login_id="l2", customer_id="cust-1", event_time=T0 - timedelta(minutes=10),
        latitude=-33.87, longitude=151.21, country="AU", device=Device(id="d2"),
    )  # fmt: skip
    assert logins.assess(home).risk == 0.0
    assessed = logins.assess(away)
    assert assessed.risk == 1.0 and any("impossible travel" in r for r in assessed.reasons)
    assert "first login from AU" in assessed.reasons and "new device" in assessed.reasons
    decision = pipeline.score([_tx(1)])[0]
    assert decision.outcome is Outcome.STEP_UP and decision.rules_hit == ["risky_login"]
    later = pipeline.score([_tx(2, minutes=90)])[0]  # more than an hour after the login
    assert later.outcome is Outcome.APPROVE


def test_the_writer_stores_transactions_and_decisions(
    control: ControlPlane, store: EventStore
) -> None:
    _publish(control, Rule("big", "amount > 500", Action.REVIEW, 10))
    pipeline = _pipeline(control)
    txs = [_tx(i, amount="700.00" if i % 2 else "5.00", minutes=i) for i in range(20)]
    decisions = pipeline.score(txs)
    stored: list[str] = []
    writer = DecisionWriter(
        store,
        max_delay_s=0.01,
        on_stored=lambda pairs: stored.extend(d.transaction_id for _, d in pairs),
    )
    writer.submit(list(zip(txs, decisions, strict=True)))
    assert writer.flush(10)
    writer.close()
    assert sorted(stored) == sorted(tx.transaction_id for tx in txs)
    for tx, decision in zip(txs, decisions, strict=True):
        assert store.get_decision(tx.transaction_id) == decision
        assert store.get_transaction(tx.transaction_id) is not None
    assert store.summary().transactions == 20


def test_labels_dated_ahead_wait_for_their_time(control: ControlPlane) -> None:
    """A label known only later must not make earlier transactions look late, and counts from
    its time on (a fraud label on a merchant's transaction raises its fraud count then)."""
    _publish(control, Rule("risky_merchant", "fraud_count_7d_by_merchant >= 1", Action.REVIEW, 0))
    pipeline = _pipeline(control)
    first = pipeline.score([_tx(1, minutes=0)])[0]
    assert first.outcome is Outcome.APPROVE
    label = Label(
        transaction_id="tx-1", is_fraud=True, event_time=T0, known_at=T0 + timedelta(hours=2)
    )
    pipeline.label([label])
    assert pipeline.labels_waiting == 1
    before = pipeline.score([_tx(2, minutes=60)])[0]  # not late, and not yet counting
    assert before.outcome is Outcome.APPROVE and not before.late
    after = pipeline.score([_tx(3, minutes=180)])[0]
    assert after.outcome is Outcome.REVIEW and pipeline.labels_waiting == 0
