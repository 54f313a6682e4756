"""A published rule set compiled once, evaluated per transaction or per batch.

`CompiledRuleSet.evaluate(row)` gives the rules that fired (acted on) and the shadow rules that
fired (recorded only), with the summed weight and the strongest action; `evaluate_batch` gives
the same for a batch of columns as a boolean hit matrix. Named lists are read live from the
`Lists` mapping, so a list update applies to the next evaluation without recompiling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fraudwatch.rules.compiler import (
    Batch,
    Column,
    Lists,
    Vector,
    compile_scalar_set,
    compile_vector,
)
from fraudwatch.rules.language import Vocabulary, names_in, parse
from fraudwatch.rules.model import Action, Rule, RuleSet

#: which action wins when several rules fire (tags never change the outcome)
SEVERITY = {Action.TAG: 0, Action.REVIEW: 1, Action.STEP_UP: 2, Action.BLOCK: 3}


@dataclass(frozen=True)
class RuleHits:
    """What a rule set said about one transaction."""

    fired: tuple[str, ...]
    shadow: tuple[str, ...]
    score: float  # sum of the fired (not shadow) rules' weights
    action: Action | None  # the strongest action among fired rules, None if none fired


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    vector: Vector
    names: frozenset[str]  # the fields and features the rule reads


class CompiledRuleSet:
    """A published (or draft, for backtests) rule set, ready to evaluate."""

    def __init__(self, rule_set: RuleSet, vocabulary: Vocabulary, lists: Lists) -> None:
        self.rule_set = rule_set
        self.vocabulary = vocabulary
        known = vocabulary.with_lists(rule_set.lists)
        trees = [parse(rule.condition, known) for rule in rule_set.rules]
        self.rules: list[_Compiled] = [
            _Compiled(rule, compile_vector(tree, lists), names_in(tree))
            for rule, tree in zip(rule_set.rules, trees, strict=True)
        ]
        self._scalar = compile_scalar_set(trees, lists, vocabulary.names)
        self.names = [c.rule.name for c in self.rules]
        #: every field and feature some rule reads: a row for `evaluate` needs no other
        self.reads: frozenset[str] = frozenset().union(*(c.names for c in self.rules))

    @property
    def version(self) -> int:
        return self.rule_set.version

    def evaluate(self, row: Mapping[str, Any]) -> RuleHits:
        results = self._scalar(row)
        if True not in results:
            return NO_HITS
        return _hits(
            c.rule for c, result in zip(self.rules, results, strict=True) if result is True
        )

    def evaluate_batch(self, columns: Mapping[str, Column], n: int) -> npt.NDArray[np.bool_]:
        """(n, rules) matrix: True where the rule's condition is true (shadow rules included)."""
        batch = Batch(columns, n, self.vocabulary.names)
        out = np.zeros((n, len(self.rules)), dtype=bool)
        for index, compiled in enumerate(self.rules):
            out[:, index] = compiled.vector(batch) == 1.0
        return out

    def hits_of(self, matrix: npt.NDArray[np.bool_], row: int) -> RuleHits:
        """The `RuleHits` of one row of an `evaluate_batch` matrix (same as `evaluate`)."""
        return _hits(self.rules[int(i)].rule for i in np.flatnonzero(matrix[row]))

    def hits_all(self, matrix: npt.NDArray[np.bool_]) -> list[RuleHits]:
        """`hits_of` for every row; rows where nothing fired share one empty result."""
        out = [NO_HITS] * len(matrix)
        rows, columns = np.nonzero(matrix)
        if len(rows) == 0:
            return out
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        rules = self.rules
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            out[int(rows[start])] = _hits(rules[c].rule for c in columns[start:end].tolist())
        return out


NO_HITS = RuleHits((), (), 0.0, None)


def _hits(true: Iterable[Rule]) -> RuleHits:
    fired: list[str] = []
    shadow: list[str] = []
    score = 0.0
    action: Action | None = None
    for rule in true:
        if rule.shadow:
            shadow.append(rule.name)
            continue
        fired.append(rule.name)
        score += rule.weight
        if action is None or SEVERITY[rule.action] > SEVERITY[action]:
            action = rule.action
    return RuleHits(tuple(fired), tuple(shadow), score, action)
