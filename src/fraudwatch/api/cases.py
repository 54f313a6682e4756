"""The case API: list (filters, keyset pages), read, assign, move along the workflow, note, and
do any of these in bulk. Resolving a case writes its labels back: stored, and applied to the
label-aware features at once."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from fraudwatch.api.admin import actor
from fraudwatch.api.auth import Principal, allow
from fraudwatch.cases.service import CaseFilter, Disposition, Status
from fraudwatch.scoring.service import ScoringService
from fraudwatch.security.access import Permission

router = APIRouter(prefix="/v1", tags=["cases"])
Reader = Annotated[Principal, Depends(allow(Permission.CASES_READ))]
Investigator = Annotated[Principal, Depends(allow(Permission.CASES_ACT))]
_json = msgspec.json.Encoder()


class AssignIn(BaseModel):
    assignees: list[str] = Field(min_length=1, description="Several: round-robin in this order")


class TransitionIn(BaseModel):
    to: Status
    disposition: Disposition | None = None


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)


class BulkIn(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=1000)
    action: Literal["assign", "transition"]
    assignees: list[str] = []
    to: Status | None = None
    disposition: Disposition | None = None


def _service(request: Request) -> ScoringService:
    service: ScoringService = request.app.state.service
    return service


def _reply(payload: Any) -> Response:
    return Response(_json.encode(payload), media_type="application/json")


def _cursor(case: dict[str, Any]) -> str:
    raw = f"{case['priority']}|{case['opened_at'].isoformat()}|{case['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(cursor: str | None) -> tuple[int, datetime, int] | None:
    if cursor is None:
        return None
    try:
        priority, opened, last = base64.urlsafe_b64decode(cursor).decode().split("|")
        return int(priority), datetime.fromisoformat(opened), int(last)
    except ValueError:
        raise HTTPException(422, "after: not a cursor this API returned") from None


@router.get("/cases", summary="Cases by priority, then age; filter and page with `after`")
def list_cases(
    request: Request,
    _: Reader,
    status: Status | None = None,
    queue: str | None = None,
    assignee: str | None = None,
    priority: Annotated[int | None, Query(ge=1, le=3)] = None,
    breached: bool | None = None,
    card_token: str | None = None,
    customer_id: str | None = None,
    transaction_id: str | None = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Search: a case id, transaction id, card token, customer id or assignee",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: str | None = None,
) -> Response:
    where = CaseFilter(
        status, queue, assignee, priority, breached, card_token, customer_id, transaction_id, q
    )
    cases = _service(request).cases.find(where, limit=limit, after=_after(after))
    following = _cursor(cases[-1]) if len(cases) == limit else None
    return _reply({"cases": cases, "next": following})


@router.get("/cases/{case_id}", summary="A case with its transactions and notes")
def get_case(case_id: int, request: Request, _: Reader) -> Response:
    return _reply(_service(request).cases.get(case_id))


def _transition(
    service: ScoringService,
    ids: list[int],
    to: Status,
    disposition: Disposition | None,
    key: Principal,
) -> int:
    labels = service.cases.transition(ids, to, by=actor(key), disposition=disposition)
    if labels:
        service.label(labels)
    return len(labels)


@router.post("/cases/{case_id}/assign", summary="Assign (several assignees: round-robin)")
def assign(case_id: int, body: AssignIn, request: Request, key: Investigator) -> Response:
    return _reply(
        {"assigned": _service(request).cases.assign([case_id], body.assignees, by=actor(key))}
    )


@router.post("/cases/{case_id}/transition", summary="Move along the workflow; resolving labels")
def transition(case_id: int, body: TransitionIn, request: Request, key: Investigator) -> Response:
    written = _transition(_service(request), [case_id], body.to, body.disposition, key)
    return _reply({"status": body.to.value, "labels_written": written})


@router.post("/cases/{case_id}/notes", summary="Add a note")
def note(case_id: int, body: NoteIn, request: Request, key: Investigator) -> Response:
    _service(request).cases.note(case_id, body.text, by=actor(key))
    return _reply({"noted": case_id})


@router.post("/cases:bulk", summary="Assign or move many cases at once")
def bulk(body: BulkIn, request: Request, key: Investigator) -> Response:
    service = _service(request)
    if body.action == "assign":
        return _reply({"assigned": service.cases.assign(body.ids, body.assignees, by=actor(key))})
    if body.to is None:
        raise HTTPException(422, "to: a transition needs the target status")
    written = _transition(service, body.ids, body.to, body.disposition, key)
    return _reply({"moved": len(body.ids), "labels_written": written})
