"""Behavioural features: one declaration, computed online (per event) and offline (SQL)."""
