"""Card tokenisation, encryption of personal data, key management and (later) the audit log."""
