"""The rules engine: a safe expression language over fields and features, versioned rule sets."""

from fraudwatch.rules.engine import CompiledRuleSet, RuleHits
from fraudwatch.rules.language import RuleSyntaxError, Type, Vocabulary, parse
from fraudwatch.rules.model import Action, Rule, RuleSet, RuleSetError, Status
from fraudwatch.rules.vocabulary import vocabulary

__all__ = [
    "Action",
    "CompiledRuleSet",
    "Rule",
    "RuleHits",
    "RuleSet",
    "RuleSetError",
    "RuleSyntaxError",
    "Status",
    "Type",
    "Vocabulary",
    "parse",
    "vocabulary",
]
