"""The HTTP API (FastAPI): scoring, labels, logins, decisions and administration."""
