"""The street office in a browser, at `/` of `kakou office serve` (the kiosks' API stays under /v1).

Server-rendered pages (Jinja2 templates in templates/) with htmx for the parts that change in
place; htmx and the style sheet are in static/, served by this office (no CDN, no build step:
it works on a LAN with no internet). `install` adds the pages' router, the static files and the
answers to "log in first" and "not allowed" to the office's app (`sync.office.app.create_app`).
Who may see what: `auth`; the accounts: `sync.office.users`; the pages: `pages`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from sync.office.console import auth, pages

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.include_router(pages.router)
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

    @app.exception_handler(auth.Refused)
    async def _refused(request: Request, exc: auth.Refused) -> Response:
        return pages.render(request, "refused.html", {"key": exc.key}, status=exc.status)
