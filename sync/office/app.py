"""The street office's HTTP API (FastAPI), under /v1.

Every request but enrolment and health is signed by the kiosk (see `sync.signing`), the ones
that change something are taken once (`replay`), and every answer to a signed request is signed
by the office (`answers`). Every error is a JSON `Problem` with a code and the same words in Chinese and English (`problems`).
Pushes are answered only after their transaction committed. When too many pushes are in flight
the office answers 429 with Retry-After instead of queueing without bound (thousands of kiosks
reconnect at once after a street-wide power cut).

The pieces: `settings` (what the office is given), `state.Office` (what the routes share),
`deps` (how a route asks for it), `routes/` (one router per resource), `handlers` (error answers).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from sync.office import answers, console, partitions, routes
from sync.office.docs import add_docs
from sync.office.handlers import add_problem_handlers
from sync.office.openapi import document_bodies
from sync.office.settings import OfficeSettings
from sync.office.state import Office
from sync.office.sweeper import Sweeper
from sync.schemas import Problem

log = logging.getLogger("kakou." + __name__)

# Every route may answer these; the body is always a `Problem`.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem} for status in (400, 401, 403, 409, 413, 422, 429, 503)
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    office: Office = app.state.office
    log.info("office serving %s (%s)", office.office_dir, office.engine.dialect.name)
    # PostgreSQL: the records' day partitions, made at start and then hourly (sync/office/partitions.py).
    maintainer = partitions.Maintainer(office.engine)
    maintainer.start()
    # The alerts no record brings (a silent gate, an overdue fever), swept in the background.
    sweeper = Sweeper(office.engine, office.settings.sweep_seconds)
    sweeper.start()
    yield
    sweeper.stop()
    maintainer.stop()
    office.close()  # the pool's connections, so PostgreSQL sees this worker leave at once


def create_app(
    office_dir: Path | str | None = None,
    database_url: str | None = None,
    *,
    settings: OfficeSettings | None = None,
    engine: Engine | None = None,
    **overrides: Any,
) -> FastAPI:
    """The office's application, with `settings` or these arguments (`max_inflight`, `retry_after`,
    `migrate`, ... as in `OfficeSettings`; what is not given comes from the KAKOU_OFFICE_*
    environment, except that an office dir given here comes with its database URL: None is the
    SQLite file in it). `engine`: use this one instead of opening the database."""
    if settings is None:
        if office_dir is not None:
            overrides.update(office_dir=office_dir, database_url=database_url or "")  # "": SQLite, not $..._URL
        elif database_url is not None:
            overrides.update(database_url=database_url)
        settings = OfficeSettings.from_values(**overrides)
    app = FastAPI(
        title="kakou street office",
        version="1",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # `docs.add_docs`: from the package, and only when turned on
        redoc_url=None,
        responses=PROBLEM_RESPONSES,
        lifespan=lifespan,
    )
    app.state.office = Office(settings, engine)
    add_problem_handlers(app)
    answers.install(app)  # every answer to a signed request is signed (after the handlers: its own wins)
    for router in routes.ROUTERS:
        app.include_router(router)
    console.install(app)  # the browser's pages at / (sync/office/console), outside /v1
    document_bodies(app)
    if settings.docs:
        add_docs(app, "/v1/openapi.json")
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory for `kakou office serve --workers N` (migrations ran before)."""
    return create_app(settings=OfficeSettings.from_values(migrate=False))


class NoDelayHTTP(AutoHTTPProtocol):  # type: ignore[valid-type, misc]  # uvicorn picks the class at import
    """uvicorn's HTTP protocol (httptools when installed, else h11) with TCP_NODELAY on every
    connection, for `kakou office serve` (uvicorn's `http=`). asyncio sets TCP_NODELAY only on
    sockets accepted from a listener made with proto=IPPROTO_TCP; with --workers N uvicorn makes
    the listener itself with proto 0, so every answer (status line and body are two writes) sat
    in Nagle's buffer until the client's delayed ACK: ~40 ms per push, whatever its size."""

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - a transport without a real socket
                pass
        super().connection_made(transport)
