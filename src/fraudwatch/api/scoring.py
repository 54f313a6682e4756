"""The scoring endpoints: score one or a batch (the hot path, served by `fastpath` without the
framework), labels, logins, read a decision.

Bodies are the canonical events (`fraudwatch.events.model`), decoded and validated by msgspec
(one pass, no second model layer): a bad body gets 422 with the field and the problem. A card
number in a request is tokenised at once and never stored or logged. Scoring is idempotent on
`transaction_id`: a transaction decided before gets its first decision back.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from fraudwatch.api.auth import LABEL, READ, SCORE, require
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.errors import RecordError
from fraudwatch.events.model import Label, Login, Transaction
from fraudwatch.scoring.service import ScoringService
from fraudwatch.security.tokens import CardTokenizer

router = APIRouter(prefix="/v1", tags=["scoring"])
_json = msgspec.json.Encoder()
_FIELD = re.compile(r" - at `\$\.?([^`]*)`$")


class ScoreBatch(msgspec.Struct, forbid_unknown_fields=True):
    transactions: list[Transaction]


class LabelBatch(msgspec.Struct, forbid_unknown_fields=True):
    labels: list[Label]


class ValidationProblem(Exception):
    """A request body that does not decode: `field` is its JSON path, `message` the problem."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _FIELD.search(text)
        field = match.group(1) if match else None
        raise ValidationProblem(_FIELD.sub("", text), field or None) from None
    except msgspec.DecodeError as exc:
        raise ValidationProblem(f"the body is not valid JSON: {exc}", None) from None


def _tokenised(tx: Transaction, tokenizer: CardTokenizer, where: str) -> Transaction:
    if tx.card is None or tx.card.number is None:
        return tx
    try:
        tx.card = tokenizer.card_from_number(tx.card.number)  # our own, just decoded: no copy
    except RecordError as exc:
        raise ValidationProblem(exc.message, f"{where}card.number") from None
    return tx


def _schema(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


def _body(name: str) -> dict[str, Any]:
    """The OpenAPI request body of a msgspec type (its schema is added by `app.openapi`)."""
    return {"requestBody": {"required": True, **_schema(name)}}


def _answer(name: str) -> dict[int | str, dict[str, Any]]:
    return {200: _schema(name)}


def _service(request: Request) -> ScoringService:
    service: ScoringService = request.app.state.service
    return service


def _reply(payload: Any, code: int = 200) -> Response:
    return Response(_json.encode(payload), status_code=code, media_type="application/json")


def parse_one(service: ScoringService, body: bytes) -> Transaction:
    """The body of POST /v1/transactions/score, validated, its card number tokenised."""
    tx: Transaction = _tokenised(decode(body, Transaction), service.app.tokenizer, "")
    return tx


def score_one(service: ScoringService, body: bytes) -> Decision:
    """POST /v1/transactions/score, one at a time (`fastpath` batches concurrent requests)."""
    return service.score([parse_one(service, body)])[0]


def score_many(service: ScoringService, body: bytes) -> list[Decision]:
    """POST /v1/transactions/score:batch: decisions in the order of the transactions."""
    batch: ScoreBatch = decode(body, ScoreBatch)
    limit = service.app.settings.max_batch
    if len(batch.transactions) > limit:
        raise ValidationProblem(f"at most {limit} transactions per batch", "transactions")
    tokenizer = service.app.tokenizer
    txs = [
        _tokenised(tx, tokenizer, f"transactions[{i}].") for i, tx in enumerate(batch.transactions)
    ]
    return service.score(txs)


@router.post(
    "/labels",
    dependencies=[Depends(require(*LABEL))],
    summary="Report fraud (or genuine) labels; they feed the label-aware features at once",
    openapi_extra=_body("LabelBatch"),
)
async def labels(request: Request) -> Response:
    batch: LabelBatch = decode(await request.body(), LabelBatch)
    accepted = _service(request).label(batch.labels)
    return _reply({"accepted": accepted})


@router.post(
    "/logins",
    dependencies=[Depends(require(*SCORE))],
    summary="Assess a login (impossible travel, new device or country, failure bursts)",
    openapi_extra=_body("Login"),
)
async def logins(request: Request) -> Response:
    login: Login = decode(await request.body(), Login)
    assessment = _service(request).login(login)
    return _reply(
        {
            "login_id": assessment.login_id,
            "customer_id": assessment.customer_id,
            "risk": assessment.risk,
            "reasons": assessment.reasons,
        }
    )


@router.get(
    "/decisions/{transaction_id}",
    dependencies=[Depends(require(*READ))],
    summary="The decision made for a transaction",
    responses=_answer("Decision"),
)
async def get_decision(transaction_id: str, request: Request) -> Response:
    decision = _service(request).decision(transaction_id)
    if decision is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no decision for {transaction_id!r}")
    body = msgspec.to_builtins(decision)
    if decision.outcome is Outcome.STEP_UP:  # the customer's answer settles it
        final = request.app.state.step_up.final_outcome(transaction_id)
        body["final_outcome"] = None if final is None else final.value
    return _reply(body)
