"""Customer verification for stepped-up transactions: send a code or ask for a passkey, check
the answer; and the customers' passkeys, registered through the bank's app."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel, Field, model_validator

from fraudwatch.api.auth import Principal, allow
from fraudwatch.control import audit
from fraudwatch.decisions.model import Decision
from fraudwatch.decisions.step_up import ChallengeError, Method, StepUp
from fraudwatch.scoring.service import ScoringService
from fraudwatch.security.access import Permission
from fraudwatch.storage.writing import writing
from fraudwatch.users.passkeys import PasskeyError

router = APIRouter(prefix="/v1", tags=["step-up"])
Service = Annotated[Principal, Depends(allow(Permission.SCORE))]
Credential = Annotated[
    dict[str, Any],
    Body(description="The PublicKeyCredential as JSON (base64url fields), as the device gave it"),
]


class ChallengeIn(BaseModel):
    method: Method
    destination: str | None = Field(
        default=None, min_length=3, max_length=320, description="Phone number or email"
    )

    @model_validator(mode="after")
    def _destination(self) -> ChallengeIn:
        if self.method is not Method.PASSKEY and self.destination is None:
            raise ValueError(f"destination: a {self.method.value} code needs one")
        return self


class AnswerIn(BaseModel):
    code: str | None = Field(default=None, min_length=4, max_length=12)
    credential: dict[str, Any] | None = Field(
        default=None, description="For a passkey challenge: the signed assertion as JSON"
    )

    @model_validator(mode="after")
    def _one(self) -> AnswerIn:
        if (self.code is None) == (self.credential is None):
            raise ValueError("code: send either the code or a passkey credential")
        return self


def _step_up(request: Request) -> tuple[ScoringService, StepUp]:
    service: ScoringService = request.app.state.service
    step_up: StepUp = request.app.state.step_up
    return service, step_up


def _decision(service: ScoringService, transaction_id: str) -> Decision:
    decision = service.decision(transaction_id)
    if decision is None:
        raise HTTPException(404, f"no decision for {transaction_id!r}")
    return decision


def _customer(service: ScoringService, transaction_id: str) -> str:
    """The customer the stored transaction names (the caller cannot choose whose passkey)."""
    tx = service.store.get_transaction(transaction_id)
    if tx is None:  # scored a moment ago: still with the writer
        service.writer.flush(timeout=5)
        tx = service.store.get_transaction(transaction_id)
    if tx is None or not tx.customer_id:
        raise ChallengeError(f"{transaction_id} names no customer: ask for a code instead")
    return tx.customer_id


@router.post("/step-up/{transaction_id}", summary="Send a one-time code, or ask for a passkey")
def start(transaction_id: str, body: ChallengeIn, request: Request, _: Service) -> dict[str, Any]:
    service, step_up = _step_up(request)
    decision = _decision(service, transaction_id)
    if body.method is Method.PASSKEY:
        customer = _customer(service, transaction_id)
        options, expires = step_up.start_passkey(decision, customer)
        return {"challenge": "passkey", "method": "passkey", "options": options,
                "expires_at": expires.isoformat()}  # fmt: skip
    assert body.destination is not None
    expires = step_up.start(decision, body.method, body.destination)
    return {"challenge": "sent", "method": body.method.value, "expires_at": expires.isoformat()}


@router.post("/step-up/{transaction_id}/verify", summary="Check the code or the passkey")
def verify(transaction_id: str, body: AnswerIn, request: Request, _: Service) -> dict[str, Any]:
    service, step_up = _step_up(request)
    decision = _decision(service, transaction_id)
    if body.credential is not None:
        customer = _customer(service, transaction_id)
        result = step_up.verify_passkey(decision, customer, body.credential)
    else:
        assert body.code is not None
        result = step_up.verify(decision, body.code)
    if result.label is not None:
        service.label([result.label])
    return {
        "status": result.status,
        "final_outcome": result.final_outcome.value if result.final_outcome else None,
        "attempts_left": result.attempts_left,
    }


@router.post(
    "/customers/{customer_id}/passkeys/register/options",
    summary="Options for the customer's device to create a passkey (the bank's app)",
)
def customer_passkey_options(customer_id: str, request: Request, caller: Service) -> dict[str, Any]:
    _, step_up = _step_up(request)
    with writing(step_up.passkeys.engine) as conn:
        return step_up.passkeys.registration_options(
            conn, owner=f"customer:{customer_id}", name=customer_id,
            subject=f"customer:{customer_id}",
        )  # fmt: skip


@router.post("/customers/{customer_id}/passkeys/register", summary="Store the customer's passkey")
def customer_passkey_register(
    customer_id: str, credential: Credential, request: Request, key: Service
) -> dict[str, Any]:
    _, step_up = _step_up(request)
    owner = f"customer:{customer_id}"
    with writing(step_up.passkeys.engine) as conn:
        try:
            passkey = step_up.passkeys.register(
                conn, owner=owner, subject=owner, credential=credential
            )
        except PasskeyError as exc:
            refused: PasskeyError | None = exc  # raised after the used challenge is gone
        else:
            refused = None
            audit.append(
                conn, actor=key.actor, action="customer.passkey_registered", target=owner,
                details={"credential_id": passkey.credential_id},
            )  # fmt: skip
    if refused is not None:
        raise refused
    return {"credential_id": passkey.credential_id, "customer_id": customer_id}


@router.delete(
    "/customers/{customer_id}/passkeys/{credential_id}", summary="Remove a customer's passkey"
)
def customer_passkey_remove(
    customer_id: str, credential_id: str, request: Request, key: Service
) -> dict[str, str]:
    _, step_up = _step_up(request)
    with writing(step_up.passkeys.engine) as conn:
        step_up.passkeys.remove(conn, owner=f"customer:{customer_id}", credential_id=credential_id)
        audit.append(
            conn, actor=key.actor, action="customer.passkey_removed",
            target=f"customer:{customer_id}", details={"credential_id": credential_id},
        )  # fmt: skip
    return {"removed": credential_id}
