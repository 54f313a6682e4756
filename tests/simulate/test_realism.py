"""The simulated stream looks like payments: fraud rates, scenarios, label delays, behaviours.

Checked on the events as ingestion sees them (the decoded JSON stream), not on internals.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from fraudwatch.events.model import Channel, LabelSource, Login, Transaction
from fraudwatch.security.tokens import luhn_valid
from fraudwatch.simulate.catalog import INSTITUTIONS
from fraudwatch.simulate.geo import COUNTRIES, build_geo
from fraudwatch.simulate.timeline import FRAUD_TYPES

from .conftest import REALISM_SIZE, Stream

DAY = timedelta(days=1)
GEO = build_geo()


def by_type(stream: Stream) -> dict[str | None, list[Transaction]]:
    kinds = stream.fraud_type()
    grouped: dict[str | None, list[Transaction]] = defaultdict(list)
    for tx in stream.transactions:
        grouped[kinds.get(tx.transaction_id)].append(tx)
    return grouped


def pan(tx: Transaction) -> str:
    assert tx.card is not None and tx.card.number is not None
    return tx.card.number


def test_fraud_rate_and_every_scenario_labelled_by_name(stream: Stream) -> None:
    assert len(stream.transactions) == REALISM_SIZE
    frauds = [label for label in stream.labels if label.is_fraud]
    assert 0.002 <= len(frauds) / REALISM_SIZE <= 0.01
    assert {label.fraud_type for label in frauds} == set(FRAUD_TYPES)
    assert stream.summary.fraud_transactions == len(frauds)
    assert stream.summary.fraud_by_scenario == {
        name: sum(label.fraud_type == name for label in frauds) for name in FRAUD_TYPES
    }


def test_every_fraud_has_exactly_one_label_and_some_legit_are_confirmed(stream: Stream) -> None:
    fraud_ids = [label.transaction_id for label in stream.labels if label.is_fraud]
    assert len(fraud_ids) == len(set(fraud_ids))
    confirmed = [label for label in stream.labels if not label.is_fraud]
    assert confirmed
    assert {label.source for label in confirmed} == {LabelSource.ANALYST}
    assert all(label.fraud_type is None for label in confirmed)
    assert not set(fraud_ids) & {label.transaction_id for label in confirmed}


def test_label_delays_are_positive_and_realistic(stream: Stream) -> None:
    delays: dict[LabelSource, list[float]] = defaultdict(list)
    times = {tx.transaction_id: tx.event_time for tx in stream.transactions}
    for label in stream.labels:
        assert label.known_at > label.event_time
        assert times[label.transaction_id] == label.event_time
        delays[label.source].append((label.known_at - label.event_time) / DAY)
    chargeback = statistics.median(delays[LabelSource.CHARGEBACK])
    report = statistics.median(delays[LabelSource.CUSTOMER_REPORT])
    analyst = statistics.median(delays[LabelSource.ANALYST])
    assert 7 <= chargeback <= 45  # days to weeks
    assert min(delays[LabelSource.CHARGEBACK]) >= 2
    assert 1 / 24 <= report <= 7
    assert analyst < 1
    assert analyst < report < chargeback
    friendly = [label for label in stream.labels if label.fraud_type == "friendly_fraud"]
    assert {label.source for label in friendly} == {LabelSource.CHARGEBACK}


def test_card_testing_bursts_are_tiny_amounts_within_minutes(stream: Stream) -> None:
    cards: dict[str, list[Transaction]] = defaultdict(list)
    for tx in by_type(stream)["card_testing"]:
        cards[pan(tx)].append(tx)
    assert len(cards) >= 3
    for attempts in cards.values():
        tiny = sorted((tx for tx in attempts if tx.amount <= 2), key=lambda tx: tx.event_time)
        assert len(tiny) >= 3
        assert len(attempts) - len(tiny) <= 1  # at most one bigger purchase follows
        assert tiny[-1].event_time - tiny[0].event_time < timedelta(minutes=30)
        assert all(Decimal("0.5") <= tx.amount for tx in tiny)
        assert {tx.channel for tx in attempts} == {Channel.ECOMMERCE}
        assert len({tx.device.id for tx in attempts if tx.device}) == 1


def test_account_takeover_login_precedes_spending_from_new_device_and_country(
    stream: Stream,
) -> None:
    takeovers = by_type(stream)["account_takeover"]
    assert takeovers
    logins: dict[str, list[Login]] = defaultdict(list)
    for login in stream.logins:
        logins[login.customer_id].append(login)
    history: dict[str | None, list[Transaction]] = defaultdict(list)
    fraud = stream.fraud_type()
    for tx in stream.transactions:
        if tx.transaction_id not in fraud:
            history[tx.customer_id].append(tx)
    for tx in takeovers:
        assert tx.device is not None and tx.customer_id is not None
        own = logins[tx.customer_id]
        entry = [
            login
            for login in own
            if login.success and login.device == tx.device and login.event_time < tx.event_time
        ]
        assert entry, "a takeover payment without the fraudster's login before it"
        login = entry[-1]
        assert tx.event_time - login.event_time < DAY
        assert tx.ip_address == login.ip_address
        earlier = [other for other in own if other.device != login.device]
        earlier = [other for other in earlier if other.event_time < login.event_time]
        assert login.country not in {other.country for other in earlier}
        assert login.country != tx.billing_country
        seen = {other.device.id for other in earlier if other.device}
        seen |= {
            old.device.id
            for old in history[tx.customer_id]
            if old.device and old.event_time < tx.event_time
        }
        assert login.device is not None and login.device.id not in seen


def test_compromised_terminals_show_many_cards_then_fraud_elsewhere(stream: Stream) -> None:
    grouped = by_type(stream)
    first_fraud: dict[str, datetime] = {}
    for tx in sorted(grouped["compromised_terminal"], key=lambda tx: tx.event_time):
        first_fraud.setdefault(pan(tx), tx.event_time)
    cards_at: dict[str, set[str]] = defaultdict(set)
    for tx in grouped[None]:
        card = pan(tx)
        if card in first_fraud and tx.terminal_id and tx.event_time < first_fraud[card]:
            cards_at[tx.terminal_id].add(card)
    compromised = {terminal for terminal, cards in cards_at.items() if len(cards) >= 3}
    assert compromised
    explained = {card for terminal in compromised for card in cards_at[terminal]}
    assert len(explained) >= 0.8 * len(first_fraud)


def test_stolen_cards_buy_resellable_goods_far_from_home(stream: Stream) -> None:
    spree = by_type(stream)["stolen_card_spree"]
    legit = by_type(stream)[None]
    assert statistics.median(
        tx.amount for tx in spree if tx.currency == "EUR"
    ) > 2 * statistics.median(tx.amount for tx in legit if tx.currency == "EUR")
    mccs = [tx.merchant.mcc for tx in spree if tx.merchant is not None]
    assert mccs and set(mccs) <= {"5732", "5944", "5311", "5651", "6011"}


def test_signals_overlap_with_legitimate_noise(stream: Stream) -> None:
    """Legit customers also travel, buy electronics and pay tiny amounts: no free giveaway."""
    legit = by_type(stream)[None]
    abroad = sum(
        tx.merchant is not None and tx.merchant.country != tx.billing_country for tx in legit
    )
    assert 0.02 <= abroad / len(legit) <= 0.2
    assert any(tx.merchant and tx.merchant.mcc == "5732" and tx.amount > 500 for tx in legit)
    assert sum(tx.amount <= 2 for tx in legit if tx.currency in {"EUR", "USD", "GBP"}) > 100
    assert not any("fraud" in str(tx.attributes) for tx in stream.transactions)


def ip_country(address: str) -> str | None:
    """The country whose simulated ISP ranges hold `address` (the lookup ingestion will do)."""
    a, b, c, d = (int(part) for part in address.split("."))
    owner = int(GEO.ip_country(np.array([(a << 24) | (b << 16) | (c << 8) | d]))[0])
    return COUNTRIES[owner].code if owner >= 0 else None


def test_cards_ips_and_currencies_are_plausible(stream: Stream) -> None:
    bins = {b.source: {prefix for prefix, _ in b.bins} for b in INSTITUTIONS}
    fraud = stream.fraud_type()
    legit_ips = [
        tx for tx in stream.transactions if tx.ip_address and tx.transaction_id not in fraud
    ]
    at_home = sum(ip_country(tx.ip_address) == tx.billing_country for tx in legit_ips)  # type: ignore[arg-type]
    assert at_home / len(legit_ips) > 0.9
    for tx in stream.transactions:
        number = pan(tx)
        assert luhn_valid(number)
        assert number[:6] in bins[tx.source]
        if tx.currency == "JPY":
            assert tx.amount == tx.amount.to_integral_value()
    assert {tx.source for tx in stream.transactions} == {b.source for b in INSTITUTIONS}
