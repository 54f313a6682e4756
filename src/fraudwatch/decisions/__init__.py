"""Decisions: the policy that turns scores and rule hits into an outcome."""

from fraudwatch.decisions.policy import Outcome, PolicyError, Thresholds, Verdict, decide

__all__ = ["Outcome", "PolicyError", "Thresholds", "Verdict", "decide"]
