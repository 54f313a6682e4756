"""The investigator dashboard: its built files at `/` (a single-page app) and its read API under
`/v1` (decisions, live stream, timelines, analytics, models, rule backtests).

The JSON shapes are the contract the React app in `dashboard/` is written against; its typed
client is generated from this app's OpenAPI document (`fraudwatch openapi`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

import fraudwatch

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
