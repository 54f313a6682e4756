"""Compiled rules: SQL-style missing values, live named lists, and the one-row and batch
evaluators agreeing exactly on any expression and any row."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudwatch.rules import Type, Vocabulary, parse
from fraudwatch.rules.compiler import Batch, compile_scalar, compile_scalar_set, compile_vector

NAMES = {"a": Type.NUM, "b": Type.NUM, "s": Type.STR, "t": Type.STR}
VOCAB = Vocabulary(NAMES, frozenset({"blocked"}))


def scalar(
    condition: str, row: dict[str, Any], lists: dict[str, frozenset[str]] | None = None
) -> bool | None:
    return compile_scalar(parse(condition, VOCAB), lists or {}, NAMES)(row)


def test_missing_values_make_comparisons_unknown() -> None:
    assert scalar("a > 1", {"a": 2}) is True
    assert scalar("a > 1", {"a": None}) is None
    assert scalar("a > 1", {"a": math.nan}) is None
    assert scalar("a > 1", {}) is None
    assert scalar("not a > 1", {}) is None  # not unknown = unknown: the rule does not fire


def test_three_valued_and_or() -> None:
    assert scalar("a > 1 and b > 1", {"a": 0, "b": None}) is False  # false and unknown
    assert scalar("a > 1 and b > 1", {"a": 2, "b": None}) is None
    assert scalar("a > 1 or b > 1", {"a": 2, "b": None}) is True  # true or unknown
    assert scalar("a > 1 or b > 1", {"a": 0, "b": None}) is None
    assert scalar("is_null(b) or b > 1", {"b": None}) is True


def test_arithmetic_and_functions() -> None:
    assert scalar("a / b > 1", {"a": 3, "b": 0}) is None  # division by zero is missing
    assert scalar("coalesce(b, a) == 3", {"a": 3}) is True
    assert scalar("min(a, b, 5) == 1", {"a": 1, "b": 2}) is True
    assert scalar("abs(-a) + 1 == 3", {"a": 2}) is True
    assert scalar("lower(s) == 'web' and startswith(t, 'ab')", {"s": "WEB", "t": "abc"}) is True
    assert scalar("a * b > 0", {"a": 1e300, "b": -1e300}) is False
    assert scalar("a * a - a * a > 0", {"a": 1e300}) is None  # inf - inf: missing, not false


def test_named_lists_are_read_live() -> None:
    lists: dict[str, frozenset[str]] = {"blocked": frozenset({"c1"})}
    rule = compile_scalar(parse("s in blocked", VOCAB), lists, NAMES)
    assert rule({"s": "c2"}) is False
    lists["blocked"] = frozenset({"c1", "c2"})  # an analyst adds a card: no recompilation
    assert rule({"s": "c2"}) is True
    assert rule({"s": None}) is None


def test_wrong_types_in_rows_are_missing_not_errors() -> None:
    assert scalar("s == 'x'", {"s": 3}) is None
    assert scalar("a > 1", {"a": 2.5}) is True


# -- scalar and vector agree --------------------------------------------------------------------

NUM_VALUES = st.sampled_from([None, math.nan, 0.0, -0.0, 1.0, 2.5, -3.0, 1e300, -1e300, math.inf])
STR_VALUES = st.sampled_from([None, "", "x", "X", "xy", "c1", "c2"])


def _num(depth: int) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["a", "b", "0", "1", "2.5", "-1"])
    if depth <= 0:
        return leaves
    inner = _num(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
            lambda p: f"({p[0]} {p[1]} {p[2]})"
        ),
        inner.map(lambda x: f"-({x})"),
        inner.map(lambda x: f"abs({x})"),
        st.tuples(st.sampled_from(["min", "max", "coalesce"]), inner, inner).map(
            lambda p: f"{p[0]}({p[1]}, {p[2]})"
        ),
    )


def _str() -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["s", "t", "'x'", "'c1'"])
    return st.one_of(
        leaves,
        leaves.map(lambda x: f"lower({x})"),
        st.tuples(leaves, leaves).map(lambda p: f"coalesce({p[0]}, {p[1]})"),
    )


def _bool(depth: int) -> st.SearchStrategy[str]:
    num, text = _num(2), _str()
    leaves = st.one_of(
        st.tuples(num, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), num).map(
            lambda p: f"{p[0]} {p[1]} {p[2]}"
        ),
        st.tuples(text, st.sampled_from(["==", "!="]), text).map(lambda p: f"{p[0]} {p[1]} {p[2]}"),
        text.map(lambda x: f"{x} in blocked"),
        text.map(lambda x: f"{x} not in ('x', 'xy')"),
        num.map(lambda x: f"{x} in (1, 2.5)"),
        st.sampled_from(["is_null(a)", "is_null(s)", "startswith(s, t)", "a", "true", "false"]),
    )
    if depth <= 0:
        return leaves
    inner = _bool(depth - 1)
    return st.one_of(
        leaves,
        inner.map(lambda x: f"not ({x})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda p: f"({p[0]}) {p[1]} ({p[2]})"
        ),
    )


ROWS = st.lists(
    st.fixed_dictionaries({"a": NUM_VALUES, "b": NUM_VALUES, "s": STR_VALUES, "t": STR_VALUES}),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(condition=_bool(2), rows=ROWS)
def test_scalar_and_vector_agree(condition: str, rows: list[dict[str, Any]]) -> None:
    lists = {"blocked": frozenset({"c1", "x"})}
    tree = parse(condition, VOCAB)
    one = compile_scalar(tree, lists, NAMES)
    many = compile_vector(tree, lists)
    columns: dict[str, Any] = {
        "a": np.array([np.nan if r["a"] is None else r["a"] for r in rows], dtype=np.float64),
        "b": np.array([np.nan if r["b"] is None else r["b"] for r in rows], dtype=np.float64),
        "s": np.array([r["s"] for r in rows], dtype=object),
        "t": np.array([r["t"] for r in rows], dtype=object),
    }
    batch = many(Batch(columns, len(rows), NAMES))
    for row, value in zip(rows, batch, strict=True):
        expected = one(row)
        got = None if math.isnan(value) else bool(value == 1.0)
        assert got is expected, (condition, row, value)


@given(conditions=st.lists(_bool(2), min_size=1, max_size=5), rows=ROWS)
def test_a_rule_set_compiled_together_agrees_with_each_rule(
    conditions: list[str], rows: list[dict[str, Any]]
) -> None:
    lists = {"blocked": frozenset({"c1", "x"})}
    trees = [parse(condition, VOCAB) for condition in conditions]
    each = [compile_scalar(tree, lists, NAMES) for tree in trees]
    together = compile_scalar_set(trees, lists, NAMES)
    for row in rows:
        assert together(row) == tuple(rule(row) for rule in each), (conditions, row)
        for got, rule in zip(together(row), each, strict=True):
            assert got is rule(row)
