"""``/docs`` without a network: Swagger UI's files are served from the package.

FastAPI's documented way to self-host the docs assets (``docs_url=None``, the files mounted as
static files, a ``/docs`` route rendering ``get_swagger_ui_html`` with local URLs). The files are
Swagger UI (npm ``swagger-ui-dist``, pinned below, Apache-2.0) in ``static/swagger-ui/``, with its
license. ReDoc is not shipped: ``/redoc`` is not served.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_VERSION = "5.35.0"
ASSETS = Path(__file__).parent / "static" / "swagger-ui"
STATIC_URL = "/docs/static"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def install(app: FastAPI) -> None:
    """Serve the docs page at ``/docs`` from the package's copy of Swagger UI. Create the app with
    ``docs_url=None, redoc_url=None``."""
    app.mount(STATIC_URL, StaticFiles(directory=ASSETS), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API docs",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js", swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/favicon-32x32.png", oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_ui_parameters={"validatorUrl": None})  # the online validator badge: never

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
