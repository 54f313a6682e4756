"""Canonical events, their validation, the source formats that produce them, dead letters."""
