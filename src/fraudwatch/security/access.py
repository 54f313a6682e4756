"""Who may do what: one table from roles to permissions, read by the API and by the services.

The API refuses a caller whose role lacks an endpoint's permission before any work starts; the
services that change state check again (`check`), so a new entry point (a CLI command, a job, a
route someone forgets to guard) cannot skip the rule. A service learns who acts from its `by`
argument: an `Actor` (a name that carries its role, what the API passes) is checked; a plain
name is an operator on the machine itself (the command line, the demo), who holds the database
and its keys anyway, and is trusted.
"""

from __future__ import annotations

from enum import StrEnum

from fraudwatch.errors import FraudwatchError


class Role(StrEnum):
    ADMIN = "admin"  # everything, including users and API keys
    ANALYST = "analyst"  # rules, lists, cases, labels
    VIEWER = "viewer"  # read only
    SERVICE = "service"  # scoring, labels and logins from a client system


class Permission(StrEnum):
    READ = "read"  # decisions, rule sets, list names, thresholds
    CASES_READ = "cases.read"
    CASES_ACT = "cases.act"  # assign, move along the workflow, note
    RULES_EDIT = "rules.edit"  # drafts
    RULES_PUBLISH = "rules.publish"  # publish, activate, roll back
    POLICY_EDIT = "policy.edit"  # thresholds
    LISTS_EDIT = "lists.edit"  # named lists: read their values, add, remove
    USERS_ADMIN = "users.admin"  # users and API keys
    AUDIT_READ = "audit.read"
    DATA_EXPORT = "data.export"
    SCORE = "score"  # transactions, logins, customer step-up
    LABEL = "label"


P = Permission
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.ANALYST: frozenset(
        {P.READ, P.CASES_READ, P.CASES_ACT, P.RULES_EDIT, P.LISTS_EDIT, P.DATA_EXPORT, P.LABEL}
    ),
    Role.VIEWER: frozenset({P.READ, P.CASES_READ}),
    Role.SERVICE: frozenset({P.READ, P.CASES_READ, P.SCORE, P.LABEL}),
}


class PermissionDenied(FraudwatchError):
    """The acting role lacks the permission (HTTP 403)."""

    code = "forbidden"


class Actor(str):
    """How the audit log names who acts (e.g. `ana (analyst)`), carrying that principal's role.

    A `str`, so it goes wherever an audit name goes; the services read `role` to check."""

    role: Role

    def __new__(cls, name: str, role: Role) -> Actor:
        actor = super().__new__(cls, name)
        actor.role = role
        return actor


def permissions(role: Role) -> list[str]:
    """The role's permissions, sorted (what the dashboard shows or hides)."""
    return sorted(p.value for p in GRANTS[role])


def allowed(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def roles_for(permission: Permission) -> tuple[Role, ...]:
    """The roles that hold a permission, in the order of `Role`."""
    return tuple(role for role in Role if permission in GRANTS[role])


def check(by: str, permission: Permission) -> None:
    """Refuse an `Actor` whose role lacks `permission`; a plain name is a trusted operator."""
    if isinstance(by, Actor) and permission not in GRANTS[by.role]:
        holders = ", ".join(r.value for r in roles_for(permission))
        raise PermissionDenied(
            f"role {by.role.value!r} may not do this: it needs the permission "
            f"{permission.value!r} ({holders})"
        )
