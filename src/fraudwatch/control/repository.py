"""The control plane's repository: rule set versions, named lists, API keys and the audit log.

Every change a user makes happens in one database transaction together with its audit entry and
a bump of the changed area's revision (`control_revisions`: rules, lists, api_keys), so the log
never misses a change and running scorers, which poll the revisions every second or so, reload
exactly what changed, without a restart. Each change first checks that the acting role holds
its permission (`fraudwatch.security.access`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from fraudwatch.control import audit
from fraudwatch.errors import FraudwatchError, NotFoundError
from fraudwatch.rules.language import Vocabulary
from fraudwatch.rules.model import Rule, RuleSet, RuleSetError, Status
from fraudwatch.security.access import Permission, Role, check
from fraudwatch.security.crypto import KeyRing
from fraudwatch.security.tokens import CardTokenizer
from fraudwatch.storage import tables as t
from fraudwatch.storage.writing import writing

__all__ = ["ApiKey", "AuditEntry", "ControlError", "ControlPlane", "Role"]  # Role: from access

KEY_PREFIX = "fwk"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any] | None
    seq: int
    prev_hash: str
    hash: str


class ControlError(FraudwatchError):
    code = "invalid_change"


def _now() -> datetime:
    return datetime.now(UTC)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ControlPlane:
    """Reads and audited changes of what users configure (one instance per process is enough)."""

    def __init__(self, engine: Engine, keyring: KeyRing, tokenizer: CardTokenizer) -> None:
        self._engine = engine
        self._keyring = keyring
        self._tokenizer = tokenizer

    # -- the audit trail and revisions ------------------------------------------------------------

    def _changed(
        self, conn: Connection, area: str, actor: str, action: str, target: str, **details: Any
    ) -> None:
        now = _now()
        audit.append(conn, actor=actor, action=action, target=target, details=details or None)
        bumped = conn.execute(
            update(t.control_revisions)
            .where(t.control_revisions.c.name == area)
            .values(revision=t.control_revisions.c.revision + 1, updated_at=now)
        )
        if bumped.rowcount == 0:
            conn.execute(insert(t.control_revisions).values(name=area, revision=1, updated_at=now))

    def revisions(self) -> dict[str, int]:
        """Change counters per area (`rules`, `lists`, `api_keys`, `policy`): poll to reload."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(t.control_revisions.c.name, t.control_revisions.c.revision))
            return {name: int(revision) for name, revision in rows}

    def record(self, *, actor: str, action: str, target: str, **details: Any) -> None:
        """Audit a change made elsewhere (e.g. a data export) in its own transaction."""
        with writing(self._engine) as conn:
            audit.append(conn, actor=actor, action=action, target=target, details=details or None)

    def verify_audit(self) -> audit.Verification:
        return audit.verify(self._engine)

    def audit(self, *, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
        """The newest entries first."""
        query = select(t.audit_log).order_by(t.audit_log.c.id.desc()).limit(limit).offset(offset)
        with self._engine.connect() as conn:
            return [AuditEntry(**row._mapping) for row in conn.execute(query)]

    # -- settings (e.g. the policy thresholds) ------------------------------------------------

    def setting(self, key: str) -> Any | None:
        with self._engine.connect() as conn:
            return conn.execute(
                select(t.control_settings.c.value).where(t.control_settings.c.key == key)
            ).scalar()

    def set_setting(self, key: str, value: Any, *, by: str, area: str = "policy") -> None:
        """Change a setting every scorer reads (e.g. the thresholds): an admin's decision."""
        check(by, Permission.POLICY_EDIT)
        now = _now()
        with writing(self._engine) as conn:
            done = conn.execute(
                update(t.control_settings)
                .where(t.control_settings.c.key == key)
                .values(value=value, updated_at=now, updated_by=by)
            )
            if done.rowcount == 0:
                conn.execute(
                    insert(t.control_settings).values(
                        key=key, value=value, updated_at=now, updated_by=by
                    )
                )
            self._changed(conn, area, by, "setting.set", f"setting:{key}", value=value)

    # -- rule sets ----------------------------------------------------------------------------

    def rule_set(self, version: int) -> RuleSet:
        with self._engine.connect() as conn:
            row = conn.execute(select(t.rule_sets).where(t.rule_sets.c.version == version)).first()
        if row is None:
            raise NotFoundError(f"no rule set version {version}")
        return _rule_set(row._mapping)

    def rule_sets(self) -> list[RuleSet]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(t.rule_sets).order_by(t.rule_sets.c.version))
            return [_rule_set(row._mapping) for row in rows]

    def save_draft(self, draft: RuleSet, *, by: str) -> RuleSet:
        """Create or replace a draft version; a published version never changes."""
        check(by, Permission.RULES_EDIT)
        if draft.status is not Status.DRAFT:
            raise ControlError("only drafts can be saved; publish them to freeze them")
        with writing(self._engine) as conn:
            existing = conn.execute(
                select(t.rule_sets.c.status).where(t.rule_sets.c.version == draft.version)
            ).scalar()
            body = _body(draft)
            if existing == Status.PUBLISHED.value:
                raise RuleSetError(f"version {draft.version} is published and cannot change")
            if existing is None:
                conn.execute(
                    insert(t.rule_sets).values(
                        version=draft.version,
                        status=Status.DRAFT.value,
                        digest=draft.digest,
                        body=body,
                        created_at=_now(),
                        created_by=by,
                    )
                )
            else:
                conn.execute(
                    update(t.rule_sets)
                    .where(t.rule_sets.c.version == draft.version)
                    .values(digest=draft.digest, body=body)
                )
            self._changed(
                conn,
                "rules",
                by,
                "rule_set.save_draft",
                f"rule_set:{draft.version}",
                digest=draft.digest,
                rules=len(draft.rules),
            )
        return draft

    def next_version(self) -> int:
        with self._engine.connect() as conn:
            top = conn.execute(
                select(t.rule_sets.c.version).order_by(t.rule_sets.c.version.desc())
            ).scalar()
        return 1 if top is None else int(top) + 1

    def publish(
        self, version: int, vocabulary: Vocabulary, *, by: str, activate: bool = True
    ) -> RuleSet:
        """Validate and freeze a draft; by default it also becomes the active version."""
        check(by, Permission.RULES_PUBLISH)
        published = self.rule_set(version).publish(vocabulary, by=by)
        with writing(self._engine) as conn:
            done = conn.execute(
                update(t.rule_sets)
                .where(t.rule_sets.c.version == version, t.rule_sets.c.status == Status.DRAFT.value)
                .values(
                    status=Status.PUBLISHED.value,
                    published_at=published.published_at,
                    published_by=by,
                    digest=published.digest,
                )
            )
            if done.rowcount != 1:
                raise RuleSetError(f"version {version} changed while publishing; try again")
            self._changed(
                conn,
                "rules",
                by,
                "rule_set.publish",
                f"rule_set:{version}",
                digest=published.digest,
            )
            if activate:
                self._activate(conn, version, by)
        return published

    def activate(self, version: int, *, by: str) -> None:
        """Make a published version the one every scorer runs (a rollback is the same call)."""
        check(by, Permission.RULES_PUBLISH)
        if self.rule_set(version).status is not Status.PUBLISHED:
            raise RuleSetError(f"version {version} is a draft: publish it first")
        with writing(self._engine) as conn:
            self._activate(conn, version, by)

    def _activate(self, conn: Connection, version: int, by: str) -> None:
        values = {"version": version, "activated_at": _now(), "activated_by": by}
        done = conn.execute(
            update(t.active_rule_set).where(t.active_rule_set.c.slot == 1).values(**values)
        )
        if done.rowcount == 0:
            conn.execute(insert(t.active_rule_set).values(slot=1, **values))
        self._changed(conn, "rules", by, "rule_set.activate", f"rule_set:{version}")

    def active_rule_set(self) -> RuleSet | None:
        query = select(t.rule_sets).join(
            t.active_rule_set, t.active_rule_set.c.version == t.rule_sets.c.version
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _rule_set(row._mapping)

    # -- named lists --------------------------------------------------------------------------

    def _value_key(self, name: str, value: str) -> str:
        return self._tokenizer.token(f"list\x00{name}\x00{value}")

    def add_to_list(
        self, name: str, values: Iterable[str], *, by: str, note: str | None = None
    ) -> int:
        """Add values (already normalised by the caller); returns how many were new."""
        check(by, Permission.LISTS_EDIT)
        added = 0
        with writing(self._engine) as conn:
            for value in dict.fromkeys(values):
                key = self._value_key(name, value)
                exists = conn.execute(
                    select(t.list_entries.c.value_key).where(
                        t.list_entries.c.list_name == name, t.list_entries.c.value_key == key
                    )
                ).first()
                if exists:
                    continue
                conn.execute(
                    insert(t.list_entries).values(
                        list_name=name,
                        value_key=key,
                        value_enc=self._keyring.encrypt(value, name.encode()),
                        pii_key_id=self._keyring.active_key_id,
                        note=note,
                        added_at=_now(),
                        added_by=by,
                    )
                )
                added += 1
            self._changed(conn, "lists", by, "list.add", f"list:{name}", added=added, note=note)
        return added

    def remove_from_list(self, name: str, values: Iterable[str], *, by: str) -> int:
        check(by, Permission.LISTS_EDIT)
        keys = [self._value_key(name, value) for value in dict.fromkeys(values)]
        with writing(self._engine) as conn:
            removed = conn.execute(
                delete(t.list_entries).where(
                    t.list_entries.c.list_name == name, t.list_entries.c.value_key.in_(keys)
                )
            ).rowcount
            self._changed(conn, "lists", by, "list.remove", f"list:{name}", removed=removed)
        return int(removed)

    def lists(self) -> dict[str, frozenset[str]]:
        """Every named list, decrypted (kept in memory by the scorer, never logged)."""
        found: dict[str, set[str]] = {}
        query = select(
            t.list_entries.c.list_name, t.list_entries.c.value_enc, t.list_entries.c.pii_key_id
        )
        with self._engine.connect() as conn:
            for name, blob, key_id in conn.execute(query):
                found.setdefault(name, set()).add(
                    self._keyring.decrypt(key_id, blob, name.encode())
                )
        return {name: frozenset(values) for name, values in found.items()}

    # -- API keys -----------------------------------------------------------------------------

    def create_api_key(self, *, role: Role, name: str, by: str) -> tuple[ApiKey, str]:
        """A new key and its secret token (`fwk_<id>_<secret>`), shown once, stored hashed."""
        check(by, Permission.USERS_ADMIN)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(key_id, name, role, _now(), by)
        with writing(self._engine) as conn:
            conn.execute(
                insert(t.api_keys).values(
                    key_id=key_id,
                    name=name,
                    role=role.value,
                    secret_hash=_secret_hash(secret),
                    created_at=key.created_at,
                    created_by=by,
                )
            )
            self._changed(
                conn,
                "api_keys",
                by,
                "api_key.create",
                f"api_key:{key_id}",
                role=role.value,
                name=name,
            )
        return key, f"{KEY_PREFIX}_{key_id}_{secret}"

    def revoke_api_key(self, key_id: str, *, by: str) -> None:
        check(by, Permission.USERS_ADMIN)
        with writing(self._engine) as conn:
            done = conn.execute(
                update(t.api_keys)
                .where(t.api_keys.c.key_id == key_id, t.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
            if done.rowcount != 1:
                raise NotFoundError(f"no active API key {key_id!r}")
            self._changed(conn, "api_keys", by, "api_key.revoke", f"api_key:{key_id}")

    def api_keys(self) -> list[ApiKey]:
        columns = [c for c in t.api_keys.c if c.name != "secret_hash"]
        with self._engine.connect() as conn:
            rows = conn.execute(select(*columns).order_by(t.api_keys.c.created_at))
            return [_api_key(row._mapping) for row in rows]

    def authenticate(self, token: str) -> ApiKey | None:
        """The key a bearer token belongs to, if it is valid and not revoked."""
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != KEY_PREFIX or not key_id or not secret:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(select(t.api_keys).where(t.api_keys.c.key_id == key_id)).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_hash, _secret_hash(secret)):
            return None
        return _api_key(row._mapping)


def _body(rule_set: RuleSet) -> dict[str, Any]:
    return {
        "rules": [r.as_dict() for r in rule_set.rules],
        "lists": sorted(rule_set.lists),
        "notes": rule_set.notes,
    }


def _rule_set(row: Any) -> RuleSet:
    body = row["body"]
    return RuleSet(
        version=int(row["version"]),
        rules=tuple(Rule.from_dict(r) for r in body["rules"]),
        status=Status(row["status"]),
        published_at=row["published_at"],
        published_by=row["published_by"],
        notes=body.get("notes", ""),
        lists=frozenset(body.get("lists", [])),
    )


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )
