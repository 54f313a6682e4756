"""The HTTP API: FastAPI over the scoring service.

`create_app(service)` wires the routers, the API-key check, problem+json errors, health and
readiness, Prometheus metrics and an OpenAPI document that includes the canonical event schemas
(msgspec types, exported as OpenAPI components).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from fraudwatch import __version__
from fraudwatch.api import admin, cases, dashboard, scoring, step_up, users
from fraudwatch.api.auth import Authenticator
from fraudwatch.api.fastpath import BATCH, SINGLE, FastScoring
from fraudwatch.api.metrics import Metrics
from fraudwatch.decisions.model import Decision
from fraudwatch.decisions.step_up import Method, StepUp
from fraudwatch.errors import FraudwatchError
from fraudwatch.events.model import Login, Transaction
from fraudwatch.rules.model import RuleSetError
from fraudwatch.scoring.service import ScoringService
from fraudwatch.settings import Settings
from fraudwatch.users.passkeys import Passkeys, RelyingParty
from fraudwatch.users.service import UserService

STATUS = {
    "not_found": 404,
    "invalid_rule": 422,
    "invalid_rule_set": 422,
    "invalid_change": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "bad_card_number": 422,
    "invalid_query": 422,
}


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def create_server(service: ScoringService, *, poll_s: float | None = None) -> FastScoring:
    """What `fraudwatch serve` runs: `create_app`, with the two scoring routes answered in
    front of the framework's middleware stack instead of inside it (five fewer layers of
    ASGI wrappers per scored request; every other request goes on to the app unchanged)."""
    app = create_app(service, poll_s=poll_s, fast_path=False)
    state = app.state
    return FastScoring(app, service, state.authenticate, state.users, state.metrics)


def create_app(
    service: ScoringService, *, poll_s: float | None = None, fast_path: bool = True
) -> FastAPI:
    """The API; `fast_path=False` leaves the scoring routes to a `FastScoring` in front of it
    (`create_server`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start(poll_s if poll_s is not None else service.app.settings.rules_poll_s)
        if service.app.settings.dashboard_projector and not service.projects_dashboard:
            projector.start()  # in this process, unless the writer process keeps the rollups
        yield
        projector.stop()
        service.close()

    app = FastAPI(
        title="fraudwatch",
        version=__version__,
        description="Real-time fraud scoring: features, model, rules and policy per transaction.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = Metrics()
    app.state.authenticate = Authenticator(service.control)
    relying_party = _relying_party(service.app.settings)
    app.state.users = UserService(service.store.engine, service.app.keyring, relying_party)
    app.state.step_up = _step_up(service)
    app.include_router(scoring.router)
    app.include_router(admin.router)
    app.include_router(cases.router)
    app.include_router(users.router)
    app.include_router(step_up.router)
    projector = dashboard.install(app, service.store.engine)
    if fast_path:
        app.add_middleware(
            FastScoring,
            service=service,
            authenticate=app.state.authenticate,
            users=app.state.users,
            metrics=app.state.metrics,
        )
    _errors(app)
    _operations(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    settings = service.app.settings  # the dashboard's files: last, it answers every other GET
    dashboard.serve_dashboard(app, settings.dashboard_dir or dashboard.default_dashboard_dir())
    return app


def _step_up(service: ScoringService) -> StepUp:
    settings = service.app.settings
    channels = {
        Method(method): settings.alert_channels[name]
        for method, name in settings.step_up_channels.items()
        if name in settings.alert_channels
    }
    key = service.app.tokenizer.token("fraudwatch step-up codes").encode()
    passkeys = Passkeys(service.store.engine, _relying_party(settings))
    return StepUp(service.store.engine, key, channels, passkeys)


def _relying_party(settings: Settings) -> RelyingParty:
    return RelyingParty(rp_id=settings.webauthn_rp_id, origins=frozenset(settings.webauthn_origins))


def _errors(app: FastAPI) -> None:
    @app.exception_handler(scoring.ValidationProblem)
    async def invalid_body(_: Request, exc: scoring.ValidationProblem) -> JSONResponse:
        return _problem(422, "invalid request", exc.message, field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid_model(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return _problem(422, "invalid request", f"{where}: {first['msg']}", field=where or None)

    @app.exception_handler(RuleSetError)
    async def invalid_rule_set(_: Request, exc: RuleSetError) -> JSONResponse:
        return _problem(422, "invalid rule set", exc.message, problems=exc.problems)

    @app.exception_handler(FraudwatchError)
    async def domain_error(_: Request, exc: FraudwatchError) -> JSONResponse:
        status = STATUS.get(exc.code, 400)
        return _problem(status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _problem(exc.status_code, "error", str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response


def _operations(app: FastAPI) -> None:
    service: ScoringService = app.state.service
    metrics: Metrics = app.state.metrics

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: database reachable, rules loaded")
    def ready() -> JSONResponse:
        try:
            details = service.ready()
        except Exception as exc:  # readiness reports any failure as not ready
            return JSONResponse({"status": "not ready", "error": type(exc).__name__}, 503)
        return JSONResponse({"status": "ready", **details})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    def prometheus() -> Response:
        metrics.queue.labels("decision_writer").set(service.writer.backlog)
        metrics.queue.labels("decision_events").set(service.events.backlog)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _, components = msgspec.json.schema_components(
        [Transaction, Login, Decision, scoring.ScoreBatch, scoring.LabelBatch],
        ref_template="#/components/schemas/{name}",
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
    schema["paths"] = {**_scoring_paths(), **schema["paths"]}
    schema["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "fraudwatch API key"}
    }
    schema["security"] = [{"bearer": []}]
    app.openapi_schema = schema
    return schema


def _scoring_paths() -> dict[str, Any]:
    """The two routes `fastpath` serves, described as FastAPI would."""

    def ref(name: str) -> dict[str, Any]:
        return {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        }

    problem = {"description": "invalid request: `detail` says what, `field` where"}
    errors = {
        "401": {"description": "no, unknown or revoked API key"},
        "403": {"description": "the key's role may not score (service, admin)"},
        "422": problem,
    }
    batch_answer = {
        "type": "object",
        "properties": {
            "decisions": {"type": "array", "items": {"$ref": "#/components/schemas/Decision"}}
        },
    }
    return {
        SINGLE: {
            "post": {
                "tags": ["scoring"],
                "summary": "Score one transaction and return its decision",
                "description": "Idempotent on transaction_id: a transaction decided before "
                "gets its first decision back.",
                "operationId": "score_transaction",
                "requestBody": {"required": True, **ref("Transaction")},
                "responses": {"200": {"description": "the decision", **ref("Decision")}, **errors},
            }
        },
        BATCH: {
            "post": {
                "tags": ["scoring"],
                "summary": "Score a batch of transactions (decisions in the same order)",
                "operationId": "score_transactions",
                "requestBody": {"required": True, **ref("ScoreBatch")},
                "responses": {
                    "200": {
                        "description": "one decision per transaction",
                        "content": {"application/json": {"schema": batch_answer}},
                    },
                    **errors,
                },
            }
        },
    }
