"""The street office in a browser, at `/` of `kakou office serve` (the kiosks' API stays under /v1).

Server-rendered pages (Jinja2 templates in templates/) with htmx for the parts that change in
place; htmx and the style sheet are in static/, served by this office (no CDN, no build step:
it works on a LAN with no internet). `install` adds the pages' router, the static files and the
answers to "log in first" and "not allowed" to the office's app (`sync.office.app.create_app`).
Who may see what: `auth`; the accounts: `sync.office.users`; the pages: `pages`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from sync.office.console import auth, pages, records
from sync.office.console import lookup as lookup_pages
from sync.office.console import policy as policy_pages
from sync.office.console import reports as report_pages

STATIC_DIR = Path(__file__).parent / "static"


async def _answer(result: Response | Awaitable[Response]) -> Response:
    return await result if inspect.isawaitable(result) else result


def install(app: FastAPI) -> None:
    app.include_router(pages.router)
    app.include_router(policy_pages.router)
    app.include_router(lookup_pages.router)
    app.include_router(report_pages.router)
    app.include_router(records.router)
    app.mount(pages.STATIC_URL, StaticFiles(directory=STATIC_DIR), name="console-static")

    @app.exception_handler(auth.LoginNeeded)
    async def _login_needed(request: Request, exc: auth.LoginNeeded) -> Response:
        target = "/login?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if exc.timed_out:
            target += "&timed_out=1"
        if request.headers.get("HX-Request") == "true":
            # htmx follows HX-Redirect with a full page load: the login form, not a tile inside the page.
            return Response(status_code=401, headers={"HX-Redirect": target})
        response = RedirectResponse(target, status_code=303)
        if exc.timed_out:
            response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response

    # A form field too long (or a path that is no page) on a console page: words on a page, not
    # the API's JSON problem, which every /v1 path keeps (the handlers of `handlers.py`).
    api_validation = app.exception_handlers[RequestValidationError]
    api_http = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(RequestValidationError)
    async def _bad_form(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/v1"):
            return await _answer(api_validation(request, exc))
        return pages.render(request, "refused.html", {"key": "bad_form"}, status=422)

    @app.exception_handler(StarletteHTTPException)
    async def _no_page(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/v1") or not isinstance(exc, StarletteHTTPException):
            return await _answer(api_http(request, exc))
        return pages.render(request, "refused.html", {"key": "not_found"}, status=exc.status_code)

    @app.exception_handler(auth.Refused)
    async def _refused(request: Request, exc: auth.Refused) -> Response:
        return pages.render(request, "refused.html", {"key": exc.key}, status=exc.status)
