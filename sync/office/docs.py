"""The office's API docs (Swagger UI) at /v1/docs, served from the package, never from a CDN.

Off by default (`OfficeSettings.docs`, `kakou office serve --docs`): an office on a street's
LAN has no business sending its clerks' browsers to the internet, and a page whose script comes
from outside would run that outside script with the clerk's admin token in reach. When on, the
page, its script, its style sheet and its icon all come from this office
(sync/office/static/swagger-ui/, Swagger UI vendored from npm with its licence), and Swagger UI's
online validator badge (validator.swagger.io) is turned off.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

SWAGGER_UI_VERSION = "5.35.0"
STATIC_DIR = Path(__file__).parent / "static" / "swagger-ui"
DOCS_URL = "/v1/docs"
STATIC_URL = DOCS_URL + "/static"


def add_docs(app: FastAPI, openapi_url: str) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}",
            swagger_css_url=f"{STATIC_URL}/swagger-ui.css?v={SWAGGER_UI_VERSION}",
            swagger_favicon_url=f"{STATIC_URL}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
