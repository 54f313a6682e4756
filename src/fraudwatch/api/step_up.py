"""Customer verification for stepped-up transactions: send a code, check it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from fraudwatch.api.auth import Principal, allow
from fraudwatch.decisions.model import Decision
from fraudwatch.decisions.step_up import Method, StepUp
from fraudwatch.scoring.service import ScoringService
from fraudwatch.security.access import Permission

router = APIRouter(prefix="/v1", tags=["step-up"])
Service = Annotated[Principal, Depends(allow(Permission.SCORE))]


class ChallengeIn(BaseModel):
    method: Method
    destination: str = Field(min_length=3, max_length=320, description="Phone number or email")


class CodeIn(BaseModel):
    code: str = Field(min_length=4, max_length=12)


def _step_up(request: Request) -> tuple[ScoringService, StepUp]:
    service: ScoringService = request.app.state.service
    step_up: StepUp = request.app.state.step_up
    return service, step_up


def _decision(service: ScoringService, transaction_id: str) -> Decision:
    decision = service.decision(transaction_id)
    if decision is None:
        raise HTTPException(404, f"no decision for {transaction_id!r}")
    return decision


@router.post("/step-up/{transaction_id}", summary="Send the customer a one-time code")
def start(transaction_id: str, body: ChallengeIn, request: Request, _: Service) -> dict[str, Any]:
    service, step_up = _step_up(request)
    expires = step_up.start(_decision(service, transaction_id), body.method, body.destination)
    return {"challenge": "sent", "method": body.method.value, "expires_at": expires.isoformat()}


@router.post("/step-up/{transaction_id}/verify", summary="Check the code the customer entered")
def verify(transaction_id: str, body: CodeIn, request: Request, _: Service) -> dict[str, Any]:
    service, step_up = _step_up(request)
    result = step_up.verify(_decision(service, transaction_id), body.code)
    if result.label is not None:
        service.label([result.label])
    return {
        "status": result.status,
        "final_outcome": result.final_outcome.value if result.final_outcome else None,
        "attempts_left": result.attempts_left,
    }
