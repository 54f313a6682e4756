"""Scoring: the decision pipeline, the live rulebook, login risk and the decision writer."""
