"""The rule language accepts the conditions analysts write and refuses everything else, saying
where and why."""

from __future__ import annotations

import pytest

from fraudwatch.features.defaults import default_feature_set
from fraudwatch.rules import RuleSyntaxError, Type, parse, vocabulary
from fraudwatch.rules.language import MAX_DEPTH, MAX_LENGTH, Compare, Logic, Member

VOCAB = vocabulary(default_feature_set(), {"blocked_cards", "risky_countries"})


@pytest.mark.parametrize(
    "condition",
    [
        "amount > 500 and ip_country != billing_country and tx_count_1h_by_card >= 3",
        "card_token in blocked_cards or merchant_country in ('RU', 'KP')",
        "coalesce(amount_ratio_to_mean_30d_by_customer, 0) > 8 and not is_null(device_id)",
        "0 < amount <= 10000",
        "abs(amount - amount_local) / max(amount, 1) > 0.5",
        "lower(channel) == 'ecommerce' and startswith(card_bin, '4')",
        "device_first_seen_30d_by_card and amount > 100",
        "merchant_country not in risky_countries",
        "true",
    ],
)
def test_conditions_analysts_write_parse(condition: str) -> None:
    assert parse(condition, VOCAB).type is Type.BOOL


def test_chained_comparisons_become_and() -> None:
    tree = parse("0 < amount <= 10", VOCAB)
    assert isinstance(tree, Logic) and tree.op == "and"
    assert all(isinstance(part, Compare) for part in tree.operands)


def test_a_number_used_as_a_test_means_not_zero() -> None:
    tree = parse("device_first_seen_30d_by_card", VOCAB)
    assert isinstance(tree, Compare) and tree.op == "!="


def test_named_lists_are_looked_up_by_name() -> None:
    tree = parse("card_token in blocked_cards", VOCAB)
    assert isinstance(tree, Member) and tree.list_name == "blocked_cards"


@pytest.mark.parametrize(
    ("condition", "message", "column"),
    [
        ("amount.__class__", "attribute access", 0),
        ("__import__('os').system('id')", "attribute access", 0),
        ("__import__('os') == 1", "calling '__import__' is not allowed", 0),
        ("amount > 1 and open('/etc/passwd')", "calling 'open' is not allowed", 15),
        ("import os", "syntax error", 0),
        ("amount ** 1000000", "the operator ** is not allowed", 0),
        ("[x for x in card_token]", "comprehensions are not allowed", 0),
        ("(lambda: 1)()", "lambdas are not allowed", 1),
        ("amount > 1 and card_token[0] == '4'", "indexing", 15),
        ("amunt > 500", "unknown name 'amunt'", 0),
        ("amount > 'high'", "cannot compare a number with a string", 9),
        ("channel > 'a'", "strings can only be compared with == and !=", 10),
        ("card_token * 1000000000 == 'x'", "expected a number, found a string", 0),
        ("card_token", "the condition is a string", 0),
        ("blocked_cards", "can only be used after `in`", 0),
        ("card_token in stolen_cards", "unknown list 'stolen_cards'", 14),
        ("amount in ('a', 'b')", "the list must hold number constants", 11),
        ("amount in blocked_cards", "named lists hold strings", 10),
        ("card_token in blocked_cards in blocked_cards", "cannot be chained", 0),
        ("amount is None", "use is_null", 0),
        ("(x := 1)", "assignments are not allowed", 1),
        ("f'{amount}' == 'a'", "f-strings are not allowed", 0),
        ("abs(amount, 2) > 1", "takes 1 argument", 0),
        ("min(amount) > 1", "at least 2 arguments", 0),
        ("amount > 1e400", "finite", 9),
        ("amount if true else 1", "use and/or", 0),
        ("", "empty", None),
    ],
)
def test_unsafe_or_wrong_rules_are_refused_with_the_place(
    condition: str, message: str, column: int | None
) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse(condition, VOCAB)
    assert message in str(info.value)
    assert info.value.column == column
    if column is not None:  # the message shows the rule with a caret under the problem
        assert str(info.value).splitlines()[-1] == "  " + " " * column + "^"


def test_size_limits_bound_the_work_of_a_rule() -> None:
    with pytest.raises(RuleSyntaxError, match="at most 2000 characters"):
        parse("amount > 1 or " * (MAX_LENGTH // 14 + 1) + "true", VOCAB)
    with pytest.raises(RuleSyntaxError, match="nests deeper"):
        parse("-" * (MAX_DEPTH + 2) + "amount > 1", VOCAB)
    with pytest.raises(RuleSyntaxError, match="strings are at most"):
        parse("channel == '" + "x" * 300 + "'", VOCAB)


def test_list_names_cannot_shadow_fields() -> None:
    with pytest.raises(ValueError, match="must differ"):
        vocabulary(default_feature_set(), {"amount"})
