"""Administration: rule sets (draft, publish, activate), named lists, policy thresholds, API keys
and the audit log. Every change is made through the control plane, which audits it and bumps
the revision running scorers poll, so it takes effect everywhere within seconds."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from fraudwatch.api.auth import ADMIN, EDIT_RULES, READ, Principal, require
from fraudwatch.control.repository import ControlPlane, Role
from fraudwatch.decisions.policy import PolicyError, Thresholds
from fraudwatch.errors import RecordError
from fraudwatch.rules.language import RuleSyntaxError, parse
from fraudwatch.rules.model import Rule, RuleSet
from fraudwatch.scoring.rulebook import THRESHOLDS_KEY
from fraudwatch.scoring.service import ScoringService

router = APIRouter(prefix="/v1", tags=["administration"])
Reader = Annotated[Principal, Depends(require(*READ))]
Editor = Annotated[Principal, Depends(require(*EDIT_RULES))]
Admin = Annotated[Principal, Depends(require(*ADMIN))]


class RuleIn(BaseModel):
    name: str
    condition: str
    action: str = "review"
    weight: float = 0.0
    shadow: bool = False
    description: str = ""


class RuleSetIn(BaseModel):
    rules: list[RuleIn] = Field(default_factory=list)
    lists: list[str] = Field(default_factory=list, description="Named lists the rules may use")
    notes: str = ""


class PublishIn(BaseModel):
    activate: bool = True


class ConditionIn(BaseModel):
    condition: str
    lists: list[str] = Field(default_factory=list)


class ListValuesIn(BaseModel):
    values: list[str] = Field(min_length=1, max_length=100_000)
    note: str | None = None


class ThresholdsIn(BaseModel):
    review: float = Field(ge=0, le=1)
    step_up: float = Field(ge=0, le=1)
    block: float = Field(ge=0, le=1)


class ApiKeyIn(BaseModel):
    role: Role
    name: str = Field(min_length=1, max_length=100)


def _service(request: Request) -> ScoringService:
    service: ScoringService = request.app.state.service
    return service


def _control(request: Request) -> ControlPlane:
    return _service(request).control


def actor(key: Principal) -> str:
    return key.actor


def _rule_set(version: int, body: RuleSetIn) -> RuleSet:
    rules = tuple(Rule.from_dict(rule.model_dump()) for rule in body.rules)
    return RuleSet(version, rules, notes=body.notes, lists=frozenset(body.lists))


# -- rule sets ------------------------------------------------------------------------------------


@router.get("/rule-sets", summary="Every rule set version")
def list_rule_sets(request: Request, _: Reader) -> list[dict[str, Any]]:
    return [rule_set.as_dict() for rule_set in _control(request).rule_sets()]


@router.post("/rule-sets", status_code=status.HTTP_201_CREATED, summary="Create a draft version")
def create_rule_set(body: RuleSetIn, request: Request, key: Editor) -> dict[str, Any]:
    control = _control(request)
    draft = _rule_set(control.next_version(), body)
    return control.save_draft(draft, by=actor(key)).as_dict()


@router.get("/rule-sets/active", summary="The version every scorer runs")
def active_rule_set(request: Request, _: Reader) -> dict[str, Any]:
    active = _control(request).active_rule_set()
    if active is None:
        compiled = _service(request).rulebook.compiled
        detail = "no published version is active"
        if compiled is not None:
            detail += f"; scorers run the built-in starter set ({len(compiled.rules)} rules)"
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail)
    return active.as_dict()


@router.get("/rule-sets/{version}", summary="One rule set version")
def get_rule_set(version: int, request: Request, _: Reader) -> dict[str, Any]:
    return _control(request).rule_set(version).as_dict()


@router.put("/rule-sets/{version}", summary="Replace a draft (published versions never change)")
def replace_rule_set(
    version: int, body: RuleSetIn, request: Request, key: Editor
) -> dict[str, Any]:
    _control(request).rule_set(version)  # 404 when unknown
    return _control(request).save_draft(_rule_set(version, body), by=actor(key)).as_dict()


@router.post("/rule-sets/{version}/publish", summary="Validate and freeze a draft (and activate)")
def publish_rule_set(version: int, body: PublishIn, request: Request, key: Admin) -> dict[str, Any]:
    service = _service(request)
    draft = service.control.rule_set(version)
    published = service.control.publish(
        version, service.vocabulary_for(draft), by=actor(key), activate=body.activate
    )
    service.rulebook.refresh()  # this process at once; the others within their poll interval
    return published.as_dict()


@router.post("/rule-sets/{version}/activate", summary="Run this published version (or roll back)")
def activate_rule_set(version: int, request: Request, key: Admin) -> dict[str, Any]:
    service = _service(request)
    service.control.activate(version, by=actor(key))
    service.rulebook.refresh()
    return {"active": version}


@router.post("/rules/validate", summary="Check one condition; says where the problem is")
def validate_condition(body: ConditionIn, request: Request, _: Reader) -> dict[str, Any]:
    service = _service(request)
    vocabulary = service.vocabulary_for(RuleSet(0, lists=frozenset(body.lists)))
    try:
        parse(body.condition, vocabulary)
    except RuleSyntaxError as exc:
        return {"valid": False, "problem": exc.problem, "column": exc.column}
    return {"valid": True}


# -- named lists ----------------------------------------------------------------------------------


def _normalised(request: Request, name: str, values: list[str]) -> list[str]:
    """Card numbers become tokens (in lists named like `*card*`), emails lower case."""
    tokenizer = _service(request).app.tokenizer
    out = []
    for raw in values:
        value = raw.strip()
        digits = value.replace(" ", "").replace("-", "")
        if "card" in name and digits.isdigit() and 12 <= len(digits) <= 19:
            try:
                value = tokenizer.card_from_number(digits).token or value
            except RecordError as exc:
                raise HTTPException(422, f"values: {exc.message}") from None
        elif "email" in name:
            value = value.lower()
        if value:
            out.append(value)
    return out


@router.get("/lists", summary="Named lists and their sizes")
def list_names(request: Request, _: Reader) -> dict[str, int]:
    return {name: len(values) for name, values in _service(request).rulebook.lists.items()}


@router.get("/lists/{name}", summary="The values of a named list")
def list_values(name: str, request: Request, _: Editor) -> dict[str, Any]:
    values = _control(request).lists().get(name, frozenset())
    return {"name": name, "values": sorted(values)}


@router.post("/lists/{name}", summary="Add values (card numbers are tokenised)")
def add_to_list(name: str, body: ListValuesIn, request: Request, key: Editor) -> dict[str, int]:
    service = _service(request)
    added = service.control.add_to_list(
        name, _normalised(request, name, body.values), by=actor(key), note=body.note
    )
    service.rulebook.refresh()
    return {"added": added}


@router.post("/lists/{name}/remove", summary="Remove values")
def remove_from_list(
    name: str, body: ListValuesIn, request: Request, key: Editor
) -> dict[str, int]:
    service = _service(request)
    removed = service.control.remove_from_list(
        name, _normalised(request, name, body.values), by=actor(key)
    )
    service.rulebook.refresh()
    return {"removed": removed}


# -- policy, keys, audit --------------------------------------------------------------------------


@router.get("/policy/thresholds", summary="The thresholds in force")
def get_thresholds(request: Request, _: Reader) -> dict[str, Any]:
    service = _service(request)
    override = service.rulebook.thresholds
    current = override or service.thresholds
    return {**asdict(current), "source": "admin" if override else "configuration"}


@router.put("/policy/thresholds", summary="Change the thresholds on every scorer")
def set_thresholds(body: ThresholdsIn, request: Request, key: Admin) -> dict[str, Any]:
    try:
        thresholds = Thresholds(body.review, body.step_up, body.block)
    except PolicyError as exc:
        raise HTTPException(422, str(exc)) from None
    service = _service(request)
    service.control.set_setting(THRESHOLDS_KEY, asdict(thresholds), by=actor(key))
    service.rulebook.refresh()
    return {**asdict(thresholds), "source": "admin"}


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, summary="Create an API key")
def create_api_key(body: ApiKeyIn, request: Request, key: Admin) -> dict[str, Any]:
    created, token = _control(request).create_api_key(role=body.role, name=body.name, by=actor(key))
    return {"key": token, "key_id": created.key_id, "role": created.role.value, "name": body.name}


@router.get("/api-keys", summary="API keys (never their secrets)")
def list_api_keys(request: Request, _: Admin) -> list[dict[str, Any]]:
    return [asdict(k) for k in _control(request).api_keys()]


@router.delete("/api-keys/{key_id}", summary="Revoke an API key")
def revoke_api_key(key_id: str, request: Request, key: Admin) -> dict[str, str]:
    _control(request).revoke_api_key(key_id, by=actor(key))
    request.app.state.authenticate.clear()  # other processes: within their cache lifetime
    return {"revoked": key_id}


@router.get("/audit", summary="Who changed what, newest first")
def audit(request: Request, _: Admin, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    if not 1 <= limit <= 1000 or offset < 0:
        raise HTTPException(422, "limit: 1 to 1000; offset: 0 or more")
    return [asdict(entry) for entry in _control(request).audit(limit=limit, offset=offset)]
