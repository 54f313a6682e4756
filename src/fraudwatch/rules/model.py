"""Rules and rule sets as data: what an analyst writes, versions and publishes.

A rule is a named condition (`language`) with an action and a score weight; in shadow it is
evaluated and recorded but never acted on. A rule set is versioned: a draft can change, a
published version never does (`publish` returns a new frozen object; its `digest` identifies
the content), and the scorer runs exactly one active published version.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fraudwatch.errors import FraudwatchError
from fraudwatch.rules.language import RuleSyntaxError, Vocabulary, parse

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Action(StrEnum):
    BLOCK = "block"
    REVIEW = "review"
    STEP_UP = "step_up"
    TAG = "tag"


class Status(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class RuleSetError(FraudwatchError):
    """A rule set cannot be published or changed: `problems` maps each rule to its message."""

    code = "invalid_rule_set"

    def __init__(self, message: str, problems: dict[str, str] | None = None) -> None:
        self.problems = problems or {}
        details = "".join(f"\n- {name}: {text}" for name, text in self.problems.items())
        super().__init__(message + details)


@dataclass(frozen=True)
class Rule:
    name: str
    condition: str
    action: Action = Action.REVIEW
    weight: float = 0.0  # added to the rule score when the rule fires
    shadow: bool = False
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "condition": self.condition,
            "action": self.action.value,
            "weight": float(self.weight),
            "shadow": self.shadow,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        unknown = set(data) - {"name", "condition", "action", "weight", "shadow", "description"}
        if unknown:
            raise RuleSetError(f"unknown rule field(s): {', '.join(sorted(unknown))}")
        try:
            return cls(
                name=str(data["name"]),
                condition=str(data["condition"]),
                action=Action(data.get("action", "review")),
                weight=float(data.get("weight", 0.0)),
                shadow=bool(data.get("shadow", False)),
                description=str(data.get("description", "")),
            )
        except KeyError as exc:
            raise RuleSetError(f"a rule needs the field {exc.args[0]!r}") from None
        except ValueError as exc:
            raise RuleSetError(f"rule {data.get('name')!r}: {exc}") from None


@dataclass(frozen=True)
class RuleSet:
    """An ordered set of uniquely named rules, a draft or a published (immutable) version."""

    version: int
    rules: tuple[Rule, ...] = ()
    status: Status = Status.DRAFT
    published_at: datetime | None = None
    published_by: str | None = None
    notes: str = ""
    lists: frozenset[str] = field(default_factory=frozenset)  # named lists the rules may use

    @property
    def digest(self) -> str:
        """Content hash of the rules and lists (what was published, not who or when)."""
        content = {"rules": [r.as_dict() for r in self.rules], "lists": sorted(self.lists)}
        body = json.dumps(content, sort_keys=True).encode()
        return hashlib.sha256(body).hexdigest()[:16]

    def problems(self, vocabulary: Vocabulary) -> dict[str, str]:
        """Every rule's problem (bad name, duplicate, invalid condition); empty when valid."""
        found: dict[str, str] = {}
        seen: set[str] = set()
        known = vocabulary.with_lists(self.lists)
        for index, rule in enumerate(self.rules):
            label = rule.name or f"rule #{index + 1}"
            if not NAME.match(rule.name):
                found[label] = "names are lowercase letters, digits and _, at most 64"
            elif rule.name in seen:
                found[label] = "two rules have this name"
            seen.add(rule.name)
            if not (-1000.0 <= rule.weight <= 1000.0):
                found.setdefault(label, "the weight must be between -1000 and 1000")
            try:
                parse(rule.condition, known)
            except RuleSyntaxError as exc:
                found.setdefault(label, str(exc))
        return found

    def publish(self, vocabulary: Vocabulary, *, by: str, at: datetime | None = None) -> RuleSet:
        """The frozen, published copy of this draft; refuses an invalid or empty set."""
        if self.status is Status.PUBLISHED:
            raise RuleSetError(f"version {self.version} is already published")
        problems = self.problems(vocabulary)
        if problems:
            raise RuleSetError(f"version {self.version} has invalid rules", problems)
        return replace(
            self, status=Status.PUBLISHED, published_at=at or datetime.now(UTC), published_by=by
        )

    def with_rules(self, rules: Iterable[Rule]) -> RuleSet:
        """A changed draft; a published version never changes (make a new draft from it)."""
        if self.status is Status.PUBLISHED:
            raise RuleSetError(f"version {self.version} is published and cannot change")
        return replace(self, rules=tuple(rules))

    def draft(self, version: int) -> RuleSet:
        """A new draft `version` starting from these rules."""
        return RuleSet(version, self.rules, lists=self.lists)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "status": self.status.value,
            "digest": self.digest,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "published_by": self.published_by,
            "notes": self.notes,
            "lists": sorted(self.lists),
            "rules": [r.as_dict() for r in self.rules],
        }
