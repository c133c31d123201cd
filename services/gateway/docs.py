"""The API document's page (/docs) with Swagger UI served by the gateway itself, from
fastapi-offline's copy: FastAPI's own page loads it from a CDN, and is blank on a network
that cannot reach it. ReDoc is not served: it loads its logo from a CDN whatever it is told."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = Path(str(files("fastapi_offline") / "static"))
STATIC = "/docs/static"


def serve_documents(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect and the files they load to `app`."""
    app.mount(STATIC, StaticFiles(directory=ASSETS), name="docs-static")
    title = f"{app.title}: API"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
