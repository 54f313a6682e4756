"""The starter rule set shipped with fraudwatch (`rules.yaml` beside this file)."""

from __future__ import annotations

from importlib.resources import files

import yaml

from fraudwatch.rules.model import Rule, RuleSet, RuleSetError


def load_rule_set(text: str, version: int = 1) -> RuleSet:
    """A draft rule set from YAML: `lists: [...]` and `rules: [{name, condition, ...}]`."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleSetError("a rule set is a mapping with a `rules` list")
    unknown = set(data) - {"rules", "lists"}
    if unknown:
        raise RuleSetError(f"unknown rule set field(s): {', '.join(sorted(unknown))}")
    lists = data.get("lists") or []
    if not isinstance(lists, list) or not all(isinstance(name, str) for name in lists):
        raise RuleSetError("`lists` is a list of list names")
    rules = []
    for index, item in enumerate(data["rules"]):
        if not isinstance(item, dict):
            raise RuleSetError(f"rule #{index + 1} is not a mapping")
        rules.append(Rule.from_dict(item))
    return RuleSet(version, tuple(rules), lists=frozenset(lists))


def starter_rule_set() -> RuleSet:
    """The starter rules as a draft, version 1."""
    return load_rule_set(files(__package__).joinpath("rules.yaml").read_text(encoding="utf-8"))
