"""The control plane: what users configure (rule sets, lists, API keys), audited and revisioned."""

from fraudwatch.control.repository import ApiKey, AuditEntry, ControlError, ControlPlane, Role

__all__ = ["ApiKey", "AuditEntry", "ControlError", "ControlPlane", "Role"]
