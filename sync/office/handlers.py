"""Every error answer, in one shape: the JSON `Problem` {code, zh, en} with the status of its
catalogue entry (`problems`), Retry-After on the answers a kiosk should retry."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.errors import KakouError
from sync.office import problems
from sync.office.problems import ApiProblem, ProblemType

log = logging.getLogger("kakou." + __name__)


def answer(
    request: Request,
    problem: ProblemType,
    *,
    status: int | None = None,
    code: str | None = None,
    zh: str | None = None,
    en: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The problem's answer. `code`/`zh`/`en` replace the entry's (a domain error keeps its own
    words), `status` its status (Starlette's refusals keep theirs)."""
    headers = dict(headers or {})
    if problem.retry:
        headers.setdefault("Retry-After", str(request.app.state.office.retry_after))
    if problem.challenge:
        headers.setdefault("WWW-Authenticate", problem.challenge)
    return JSONResponse(
        {"code": code or problem.code, "zh": problem.zh if zh is None else zh, "en": problem.en if en is None else en},
        status_code=status or problem.status,
        headers=headers,
    )


def add_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return answer(request, exc.problem, zh=exc.zh, en=exc.en, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown paths and wrong methods answer in the same words-in-two-languages shape.
        problem = problems.for_http_status(exc.status_code)
        return answer(request, problem, status=exc.status_code, headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problem = ApiProblem(problems.MALFORMED_REQUEST, detail=str(exc.errors()[:1])[:200])
        return answer(request, problem.problem, zh=problem.zh, en=problem.en)

    @app.exception_handler(KakouError)
    async def _kakou(request: Request, exc: KakouError) -> JSONResponse:
        # The domain's own code and words; the status its code has in the catalogue.
        return answer(request, problems.for_domain(exc.code), code=exc.code, zh=exc.zh, en=exc.en)

    @app.exception_handler(OperationalError)
    async def _db_busy(request: Request, exc: OperationalError) -> JSONResponse:
        return answer(request, problems.DB_UNAVAILABLE)

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> JSONResponse:
        log.warning("office database error: %s", exc)
        return answer(request, problems.DB_ERROR)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The last resort (Starlette's ServerErrorMiddleware calls it): a bug, never a plain-text
        # 500 with the server's insides. The traceback goes to the office's log, with the address.
        log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
        return answer(request, problems.INTERNAL)
