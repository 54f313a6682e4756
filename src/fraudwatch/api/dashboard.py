"""The investigator dashboard: its built files at `/` (a single-page app) and its read API under
`/v1` (decisions, live stream, timelines, analytics, models, rule backtests).

The JSON shapes are the contract the React app in `dashboard/` is written against; its typed
client is generated from this app's OpenAPI document (`fraudwatch openapi`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from starlette.routing import Match, Route
from starlette.types import Scope

import fraudwatch
from fraudwatch.analytics import aggregates, cursors, decisions
from fraudwatch.analytics.backtest import run as run_backtest
from fraudwatch.analytics.cursors import BadQuery
from fraudwatch.analytics.decisions import DecisionFilter
from fraudwatch.analytics.models import catalogue, champion_period
from fraudwatch.analytics.projector import Projector
from fraudwatch.analytics.timeline import logins_of, transaction_view, transactions_of
from fraudwatch.analytics.views import (
    BacktestResult,
    BreakdownPage,
    DecisionDetail,
    DecisionPage,
    DecisionView,
    GeoPage,
    LoginPage,
    ModelCatalogue,
    ModelPerformancePage,
    RulePage,
    ScoreHistogram,
    Summary,
    TimelinePage,
    TrendPage,
    Window,
)
from fraudwatch.api.admin import RuleIn
from fraudwatch.api.auth import EDIT_RULES, READ, Principal, require
from fraudwatch.rules.model import Rule, RuleSet
from fraudwatch.rules.starter import starter_rule_set
from fraudwatch.scoring.service import ScoringService

API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")
LONG_CACHE = "public, max-age=31536000, immutable"  # Vite names assets by content hash
NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fraudwatch</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>fraudwatch</h1>
<p>The dashboard is not built yet. Build it with <code>make demo</code> or
<code>npm --prefix dashboard ci &amp;&amp; npm --prefix dashboard run build</code>,
then reload this page.</p>
<p>The API is up: see <a href="/docs">/docs</a>.</p>
</body></html>
"""


SERVER_EXITING = threading.Event()
"""Set when uvicorn is asked to exit: it waits for open responses before it shuts the app down,
so the live feeds must end on their own (sse-starlette does the same)."""


def _end_feeds_on_server_exit() -> None:
    try:
        from uvicorn.server import Server
    except ImportError:  # served some other way: the feeds end at the app's shutdown
        return
    original = Server.handle_exit
    if getattr(original, "ends_feeds", False):
        return

    def handle_exit(self: Server, sig: int, frame: object) -> None:
        SERVER_EXITING.set()
        original(self, sig, frame)  # type: ignore[arg-type]

    handle_exit.ends_feeds = True  # type: ignore[attr-defined]
    Server.handle_exit = handle_exit  # type: ignore[method-assign]


def install(app: FastAPI, engine: Engine) -> Projector:
    """Add the dashboard's API to `app`; the rollup projector it needs (started by the app)."""
    _end_feeds_on_server_exit()
    app.include_router(router)
    projector = Projector(engine)
    app.state.dashboard_projector = projector
    return projector


def default_dashboard_dir() -> Path:
    """`dashboard/dist` of the repository this package runs from."""
    return Path(fraudwatch.__file__).resolve().parents[2] / "dashboard" / "dist"


class _AppRoute(Route):
    """A catch-all GET route that never answers for an API path (those 404 as the API does)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(API_PREFIXES) or path == "/v1":
            return Match.NONE, {}
        return super().matches(scope)


def serve_dashboard(app: FastAPI, directory: Path) -> None:
    """Serve the built app from `directory`: files as they are (long cache under /assets/),
    `index.html` for every other path (the app routes on the client). Register it last: it
    answers every GET that no route before it took."""
    root = directory.resolve()

    async def page(request: Request) -> Response:
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, headers={"Cache-Control": "no-store"})
        wanted = (root / request.path_params["path"]).resolve()
        if wanted != root and wanted.is_relative_to(root) and wanted.is_file():
            immutable = wanted.is_relative_to(root / "assets")
            return FileResponse(
                wanted, headers={"Cache-Control": LONG_CACHE if immutable else "no-cache"}
            )
        if request.path_params["path"].startswith("assets/"):
            return Response("no such asset", status_code=404, media_type="text/plain")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.router.routes.append(
        _AppRoute("/{path:path}", page, methods=["GET", "HEAD"], include_in_schema=False)
    )


# -- the read API ---------------------------------------------------------------------------------

router = APIRouter(prefix="/v1", tags=["dashboard"])
Reader = Annotated[Principal, Depends(require(*READ))]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
Since = Annotated[datetime | None, Query(description="ISO-8601 with a zone; inclusive")]
Until = Annotated[datetime | None, Query(description="ISO-8601 with a zone; exclusive")]
STREAM_POLL_S = 0.5
STREAM_ROWS = 500  # rows read per poll of the live feed
KEEPALIVE_S = 15.0
STREAM_MAX_S = 3600.0  # a feed ends after an hour; the client reconnects with Last-Event-ID


def _engine(request: Request) -> Engine:
    service: ScoringService = request.app.state.service
    return service.store.engine


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise BadQuery(f"{name}: give a time zone (e.g. 2026-03-01T00:00:00Z)")
    return value


def _filter(
    outcome: Annotated[list[str], Query(description="approve, review, step_up, block")] = [],  # noqa: B006
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    min_amount: Annotated[float | None, Query(ge=0)] = None,
    max_amount: Annotated[float | None, Query(ge=0)] = None,
    merchant: Annotated[
        str | None, Query(description="Merchant id (exact) or name prefix", max_length=200)
    ] = None,
    country: Annotated[str | None, Query(description="Merchant country, ISO alpha-2")] = None,
    channel: str | None = None,
    scenario: Annotated[str | None, Query(description="The fraud label's fraud_type")] = None,
    since: Since = None,
    until: Until = None,
) -> DecisionFilter:
    return DecisionFilter(
        outcome=outcome, min_score=min_score, max_score=max_score, min_amount=min_amount,
        max_amount=max_amount, merchant=merchant, country=country, channel=channel,
        scenario=scenario, since=_aware("since", since), until=_aware("until", until),
    )  # fmt: skip


Filters = Annotated[DecisionFilter, Depends(_filter)]


@router.get(
    "/decisions", response_model=DecisionPage, summary="Decisions, newest first, filtered and paged"
)
def list_decisions(
    request: Request, _: Reader, where: Filters, limit: Limit = 50, after: str | None = None
) -> DecisionPage:
    with _engine(request).connect() as conn:
        items, following = decisions.newest(conn, where, limit=limit, after=after)
    return DecisionPage(items=items, next=following)


@router.get(
    "/stream/decisions",
    summary="Live feed of decisions as they are stored (server-sent events)",
    description="`id: <cursor>`, `event: decision`, `data: <DecisionView>` per decision; a "
    "`: keepalive` comment every 15 s. Starts now, or after `after` / `Last-Event-ID`.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"}},
)
async def stream_decisions(
    request: Request,
    _: Reader,
    where: Filters,
    after: str | None = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    engine = _engine(request)
    start = last_event_id or after
    if start:
        cursors.decode(start, field="Last-Event-ID" if last_event_id else "after")
    else:
        start = await run_in_threadpool(_tail_start, engine)
    stopping: threading.Event = request.app.state.dashboard_projector.stopping
    return StreamingResponse(
        _events(request, engine, where, start, stopping),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _tail_start(engine: Engine) -> str:
    with engine.connect() as conn:
        return decisions.tail_start(conn)


def _decided_after(
    engine: Engine, where: DecisionFilter, cursor: str
) -> tuple[list[tuple[str, DecisionView]], str]:
    with engine.connect() as conn:
        return decisions.decided_after(conn, where, cursor, limit=STREAM_ROWS)


async def _events(
    request: Request, engine: Engine, where: DecisionFilter, cursor: str, stopping: threading.Event
) -> AsyncIterator[str]:
    started = beat = time.monotonic()
    yield ": connected\n\n"
    while not (stopping.is_set() or SERVER_EXITING.is_set()):
        if await request.is_disconnected() or time.monotonic() - started > STREAM_MAX_S:
            return
        items, cursor = await run_in_threadpool(_decided_after, engine, where, cursor)
        for event_id, view in items:
            yield f"id: {event_id}\nevent: decision\ndata: {view.model_dump_json()}\n\n"
        if time.monotonic() - beat >= KEEPALIVE_S:
            beat = time.monotonic()
            yield ": keepalive\n\n"
        if len(items) < STREAM_ROWS:
            await asyncio.sleep(STREAM_POLL_S)


@router.get(
    "/decisions/{transaction_id}/detail",
    response_model=DecisionDetail,
    summary="A decision with its transaction (no personal data), features and case",
)
def decision_detail(transaction_id: str, request: Request, _: Reader) -> DecisionDetail:
    with _engine(request).connect() as conn:
        found = decisions.one(conn, transaction_id)
        if found is None:
            raise HTTPException(404, f"transaction_id: no decision stored for {transaction_id!r}")
        view, tx = found
        features = decisions.features_of(conn, transaction_id, view.event_time)
    return DecisionDetail(
        decision=view,
        transaction=transaction_view(tx) if tx is not None else None,
        features=features,
        case_id=view.case_id,
    )


@router.get(
    "/timeline",
    response_model=TimelinePage,
    summary="A card's or customer's transactions, newest first (give exactly one)",
)
def timeline(
    request: Request,
    _: Reader,
    card_token: str | None = None,
    customer_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: str | None = None,
) -> TimelinePage:
    with _engine(request).connect() as conn:
        items, following = transactions_of(
            conn, card_token=card_token, customer_id=customer_id, limit=limit, after=after
        )
    return TimelinePage(items=items, next=following)


@router.get("/logins", response_model=LoginPage, summary="A customer's logins, newest first")
def logins(request: Request, _: Reader, customer_id: str, limit: Limit = 50) -> LoginPage:
    with _engine(request).connect() as conn:
        return LoginPage(items=logins_of(conn, customer_id, limit=limit))


# -- aggregates -------------------------------------------------------------------------------


def _window(conn: Connection, since: datetime | None, until: datetime | None) -> Window:
    return aggregates.window(conn, _aware("since", since), _aware("until", until))


@router.get(
    "/analytics/summary",
    response_model=Summary,
    summary="Decisions, outcomes, fraud caught and missed, money blocked, latency, throughput",
)
def summary(request: Request, _: Reader, since: Since = None, until: Until = None) -> Summary:
    with _engine(request).connect() as conn:
        return aggregates.summary(conn, _window(conn, since, until))


@router.get(
    "/analytics/geo",
    response_model=GeoPage,
    summary="Decisions and fraud by country (merchant's, or the customer's billing country)",
)
def geo(
    request: Request,
    _: Reader,
    since: Since = None,
    until: Until = None,
    by: Literal["merchant", "customer"] = "merchant",
) -> GeoPage:
    with _engine(request).connect() as conn:
        return GeoPage(items=aggregates.geo(conn, _window(conn, since, until), by))


@router.get(
    "/analytics/trends", response_model=TrendPage, summary="Outcomes and fraud per hour or day"
)
def trends(
    request: Request,
    _: Reader,
    bucket: Literal["hour", "day"] = "hour",
    since: Since = None,
    until: Until = None,
) -> TrendPage:
    with _engine(request).connect() as conn:
        return TrendPage(items=aggregates.trends(conn, _window(conn, since, until), bucket))


@router.get(
    "/analytics/breakdown",
    response_model=BreakdownPage,
    summary="Decisions and fraud by MCC, merchant country, channel, fraud scenario or outcome",
)
def breakdown(
    request: Request,
    _: Reader,
    by: Literal["mcc", "country", "channel", "scenario", "outcome"],
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> BreakdownPage:
    with _engine(request).connect() as conn:
        span = _window(conn, since, until)
        return BreakdownPage(items=aggregates.breakdown(conn, span, by, limit))


@router.get(
    "/analytics/model-performance",
    response_model=ModelPerformancePage,
    summary="Precision, recall (flagged = review/step_up/block) and AP per model version",
)
def model_performance(
    request: Request,
    _: Reader,
    bucket: Literal["hour", "day"] = "day",
    since: Since = None,
    until: Until = None,
) -> ModelPerformancePage:
    with _engine(request).connect() as conn:
        span = _window(conn, since, until)
        return ModelPerformancePage(items=aggregates.model_performance(conn, span, bucket))


@router.get(
    "/analytics/scores",
    response_model=ScoreHistogram,
    summary="Risk score distribution by label, and its drift (PSI) from a reference window",
)
def scores(
    request: Request,
    _: Reader,
    since: Since = None,
    until: Until = None,
    bins: Annotated[int, Query(ge=1, le=100, description="A divisor of 100")] = 20,
) -> ScoreHistogram:
    service: ScoringService = request.app.state.service
    reference = champion_period(service.app.settings)  # else the first stored week
    with _engine(request).connect() as conn:
        span = _window(conn, since, until)
        if reference is not None:
            reference = aggregates.window(conn, reference.since, reference.until)
        return aggregates.scores(conn, span, bins, reference)


@router.get(
    "/analytics/rules",
    response_model=RulePage,
    summary="Rule hits (acted on and shadow), hit rate and precision from labels",
)
def rules(request: Request, _: Reader, since: Since = None, until: Until = None) -> RulePage:
    service: ScoringService = request.app.state.service
    compiled = service.rulebook.compiled
    actions = {c.rule.name: c.rule.action.value for c in compiled.rules} if compiled else {}
    with _engine(request).connect() as conn:
        return RulePage(items=aggregates.rules(conn, _window(conn, since, until), actions))


# -- models and rule backtests ----------------------------------------------------------------


@router.get(
    "/models",
    response_model=ModelCatalogue,
    summary="Registered model versions, stages and metrics, with live figures from decisions",
)
def models(request: Request, _: Reader) -> ModelCatalogue:
    service: ScoringService = request.app.state.service
    with _engine(request).connect() as conn:
        span = aggregates.window(conn, None, None)
        return catalogue(service.app.settings, conn, span)


class BacktestIn(BaseModel):
    version: int | None = Field(default=None, description="A stored rule set version")
    rules: list[RuleIn] | None = Field(default=None, description="Or rules, as in a draft")
    lists: list[str] = Field(default_factory=list, description="Named lists the rules use")
    since: datetime | None = None
    until: datetime | None = None
    warm_up_days: int = Field(
        default=1, ge=0, le=30,
        description="Stored history before `since` replayed into the features first (feature "
        "windows longer than this see less history than the scorer did; 30 days is exact "
        "for the default features, and slower)",
    )  # fmt: skip


Editor = Annotated[Principal, Depends(require(*EDIT_RULES))]


@router.post(
    "/rules/backtest",
    response_model=BacktestResult,
    summary="Run candidate rules over stored decisions: hits, precision, recall, changes",
)
def backtest_rules(body: BacktestIn, request: Request, _: Editor) -> BacktestResult:
    service: ScoringService = request.app.state.service
    if (body.version is None) == (body.rules is None):
        raise BadQuery("version, rules: give exactly one of them")
    if body.version is not None:
        rule_set = service.control.rule_set(body.version)
    else:
        rules = tuple(Rule.from_dict(rule.model_dump()) for rule in body.rules or [])
        rule_set = RuleSet(0, rules, lists=frozenset(body.lists))
    weights = {
        str(stored.version): {rule.name: rule.weight for rule in stored.rules}
        for stored in service.control.rule_sets()
    }
    weights["starter"] = {rule.name: rule.weight for rule in starter_rule_set().rules}
    with _engine(request).connect() as conn:
        span = _window(conn, body.since, body.until)
    thresholds = service.rulebook.thresholds or service.thresholds
    return run_backtest(
        service.store, service.locator, service.feature_set, rule_set, service.rulebook.lists,
        thresholds, span, weights, warm_up=timedelta(days=body.warm_up_days),
    )  # fmt: skip
