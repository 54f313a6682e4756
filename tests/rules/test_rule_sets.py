"""Rule sets: drafts change, published versions never do; a compiled set reports fired and
shadow rules, the summed weight and the strongest action, per row and per batch alike."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from fraudwatch.features.defaults import default_feature_set
from fraudwatch.rules import (
    Action,
    CompiledRuleSet,
    Rule,
    RuleSet,
    RuleSetError,
    Status,
    vocabulary,
)
from fraudwatch.rules.starter import load_rule_set, starter_rule_set

VOCAB = vocabulary(default_feature_set())
RULES = (
    Rule("big_foreign", "amount > 500 and ip_country != billing_country", Action.REVIEW, 30),
    Rule("blocked_card", "card_token in blocked_cards", Action.BLOCK, 100),
    Rule("burst", "tx_count_10m_by_card >= 3", Action.STEP_UP, 20),
    Rule("night", "hour_of_day < 5", Action.TAG, 5),
    Rule("trial", "amount > 100", Action.BLOCK, 50, shadow=True),
)


def _draft() -> RuleSet:
    return RuleSet(1, RULES, lists=frozenset({"blocked_cards"}))


def test_publishing_freezes_a_version() -> None:
    published = _draft().publish(VOCAB, by="ana", at=datetime(2026, 11, 1, tzinfo=UTC))
    assert published.status is Status.PUBLISHED and published.published_by == "ana"
    assert published.digest == _draft().digest  # the content, not who or when
    with pytest.raises(RuleSetError, match="published and cannot change"):
        published.with_rules([])
    with pytest.raises(RuleSetError, match="already published"):
        published.publish(VOCAB, by="bob")
    following = published.draft(2).with_rules(RULES[:2])
    assert following.status is Status.DRAFT and following.digest != published.digest


def test_invalid_rules_are_listed_by_name_and_block_publishing() -> None:
    draft = _draft().with_rules(
        [*RULES, Rule("bad", "amount.real > 1"), Rule("burst", "true"), Rule("Bad Name", "true")]
    )
    problems = draft.problems(VOCAB)
    assert "attribute access" in problems["bad"]
    assert problems["burst"] == "two rules have this name"
    assert "lowercase" in problems["Bad Name"]
    with pytest.raises(RuleSetError) as info:
        draft.publish(VOCAB, by="ana")
    assert info.value.problems == problems


def test_rules_from_dicts_name_the_bad_field() -> None:
    assert (
        Rule.from_dict({"name": "x", "condition": "true", "action": "block"}).action is Action.BLOCK
    )
    with pytest.raises(RuleSetError, match="'condition'"):
        Rule.from_dict({"name": "x"})
    with pytest.raises(RuleSetError, match="unknown rule field"):
        Rule.from_dict({"name": "x", "condition": "true", "severity": 3})
    with pytest.raises(RuleSetError, match="'deny' is not a valid Action"):
        Rule.from_dict({"name": "x", "condition": "true", "action": "deny"})


ROWS = [
    {
        "amount": 900.0,
        "ip_country": "NL",
        "billing_country": "DE",
        "card_token": "c1",
        "tx_count_10m_by_card": 1,
        "hour_of_day": 12,
    },
    {
        "amount": 900.0,
        "ip_country": "NL",
        "billing_country": "NL",
        "card_token": "c9",
        "tx_count_10m_by_card": 4,
        "hour_of_day": 3,
    },
    {
        "amount": 50.0,
        "ip_country": None,
        "billing_country": "NL",
        "card_token": "c2",
        "tx_count_10m_by_card": float("nan"),
        "hour_of_day": 12,
    },
    {"amount": None, "card_token": None, "hour_of_day": 23},
]


def test_a_compiled_set_reports_hits_per_row_and_per_batch_alike() -> None:
    lists = {"blocked_cards": frozenset({"c2"})}
    compiled = CompiledRuleSet(_draft().publish(VOCAB, by="ana"), VOCAB, lists)
    hits = [compiled.evaluate(row) for row in ROWS]
    assert hits[0].fired == ("big_foreign",) and hits[0].shadow == ("trial",)
    assert hits[0].score == 30 and hits[0].action is Action.REVIEW
    assert hits[1].fired == ("burst", "night") and hits[1].action is Action.STEP_UP
    assert hits[1].score == 25
    assert hits[2].fired == ("blocked_card",) and hits[2].action is Action.BLOCK
    assert hits[3].fired == () and hits[3].action is None and hits[3].score == 0

    columns = {
        name: np.array([row.get(name) for row in ROWS], dtype=object)
        for name in ("ip_country", "billing_country", "card_token")
    }
    for name in ("amount", "tx_count_10m_by_card", "hour_of_day"):
        columns[name] = np.array(
            [np.nan if row.get(name) is None else row.get(name) for row in ROWS], dtype=float
        )
    matrix = compiled.evaluate_batch(columns, len(ROWS))
    assert matrix.shape == (4, 5)
    assert [compiled.hits_of(matrix, i) for i in range(len(ROWS))] == hits


def test_the_starter_rule_set_is_valid_over_the_default_features() -> None:
    starter = starter_rule_set()
    assert len(starter.rules) >= 20
    rule_vocabulary = vocabulary(default_feature_set(), set(starter.lists))
    assert starter.problems(rule_vocabulary) == {}
    assert {rule.action for rule in starter.rules} == set(Action)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: 3", "a mapping with a `rules` list"),
        ("rules: []\nowner: x", "unknown rule set field"),
        ("rules: [3]", "rule #1 is not a mapping"),
        ("lists: blocked\nrules: []", "`lists` is a list"),
        ("rules: [{name: a}]", "needs the field 'condition'"),
    ],
)
def test_rule_set_files_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(RuleSetError, match=message):
        load_rule_set(text)
