"""Detection models: point-in-time training sets split by time, a calibrated gradient-boosted
classifier blended with an Isolation Forest, honest evaluation on a later period, backtests,
the MLflow registry, fast inference and reason codes (docs/models.md)."""
