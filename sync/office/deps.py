"""The dependencies the office's routes share, as `Annotated` aliases: declare `office: OfficeDep`,
`kiosk: SignedPost`, `admin: Admin` ... in a route's signature and FastAPI supplies them.

Order matters where a dependency refuses: a push checks its signature headers (a known kiosk,
not revoked) before it reads its body, reads the body within the office's deadline, checks the
signature, and only then takes an upload slot (`PushKiosk`): a connection that sends headers and
then nothing holds no slot. An admin route checks the token before it reads the body (declare
`admin` first: FastAPI resolves dependencies in the order of the parameters).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from sync import signing
from sync.office import admin as office_admin
from sync.office import problems, tries
from sync.office.bodies import parse_admin, read_body, signed_target
from sync.office.problems import ApiProblem
from sync.office.replica import ReadSource
from sync.office.settings import OfficeSettings
from sync.office.state import Office, SignedKiosk

log = logging.getLogger("kakou." + __name__)


async def get_office(request: Request) -> Office:
    # async, as are the two below: FastAPI runs a plain `def` dependency in a worker thread.
    office: Office = request.app.state.office
    return office


OfficeDep = Annotated[Office, Depends(get_office)]


async def get_engine(office: OfficeDep) -> Engine:
    return office.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


# -- reads that need not see the newest commit (sync/office/replica.py) -------------------------
# A page, report or export reads through `office.reads.run(work)` (in a worker thread): `work(engine)`
# runs on the replica when one is set and answers, else on the primary (also when the replica
# fails during the read), and returns where it ran: put `source.as_dict()` in the answer as
# `read_from` (how far behind the replica is, or why the primary answered). Never write there.


def read_engine(office: Office) -> Engine:
    """The engine for one read that need not see the newest commit: the replica's when it is set
    and usable, else the primary's. Blocking (it may connect): call it in a worker thread. Prefer
    `office.reads.run(work)`, which also falls back when the replica fails mid-read."""
    return office.reads.source().engine


async def get_read_source(office: OfficeDep) -> ReadSource:
    return await run_in_threadpool(office.reads.source)


# `source: ReadDep` in a route: where its reads go (`source.engine`) and what to say (`source.as_dict()`).
ReadDep = Annotated[ReadSource, Depends(get_read_source)]


async def get_settings(office: OfficeDep) -> OfficeSettings:
    return office.settings


SettingsDep = Annotated[OfficeSettings, Depends(get_settings)]


async def raw_body(request: Request) -> bytes:
    office: Office = request.app.state.office
    return await read_body(request, timeout=office.settings.body_timeout)


# The raw body as sent, capped in size and in time (read once per request; every dependency that
# asks shares it).
RawBody = Annotated[bytes, Depends(raw_body)]


# -- the signed kiosk --------------------------------------------------------------------------


async def signed_get(request: Request, office: OfficeDep) -> SignedKiosk:
    return await office.authenticate(request, signing.get_body("GET", signed_target(request)))


async def signed_post(request: Request, office: OfficeDep) -> SignedKiosk:
    # The headers first: a stranger's body is never waited for.
    claim = await office.claim(request)
    return await office.verify(claim, await raw_body(request))


async def push_kiosk(request: Request) -> AsyncIterator[SignedKiosk]:
    """A push: the signature headers of a known kiosk (401/403 before the body is read), the
    body within `body_timeout` (408), its signature, with the key from memory (the push's
    transaction checks it against the kiosk's row), then one of the office's upload slots for
    the ingest (429 when the office's or this kiosk's are all taken). Nothing unauthenticated
    ever holds a slot. One dependency, not four: this is the office's hot path."""
    office: Office = request.app.state.office
    claim = await office.claim(request, cached=True)
    kiosk = await office.verify(claim, await read_body(request, timeout=office.settings.body_timeout))
    office.acquire(kiosk.kiosk_id)
    try:
        yield kiosk
    finally:
        office.release(kiosk.kiosk_id)


SignedGet = Annotated[SignedKiosk, Depends(signed_get)]  # a GET: its path and query are signed
SignedPost = Annotated[SignedKiosk, Depends(signed_post)]  # a POST: its body is signed
# scope="function": the slot is free again as soon as the route returns, before the answer is
# sent, so a kiosk that pushes again right after its answer never finds its own slot taken.
PushKiosk = Annotated[SignedKiosk, Depends(push_kiosk, scope="function")]  # signature, then upload slot


# -- the admin ---------------------------------------------------------------------------------

admin_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="an admin token printed once by `kakou office add-admin NAME`",
)


def require_admin(
    request: Request,
    office: OfficeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> str:
    """The admin's name for a valid bearer token (from `kakou office add-admin`). Failed tries
    are limited per client address (429 before the token is looked up) and logged (`tries`)."""
    address = tries.client_address(request.client.host if request.client else None)
    office.tries.take("admin", address)
    name = office_admin.admin_for_token(office.engine, credentials.credentials) if credentials else None
    if name is None:
        log.warning("admin request %s %s without a valid token from %s", request.method, request.url.path, address)
        raise ApiProblem(problems.ADMIN_TOKEN)
    office.tries.give_back("admin", address)
    return name


Admin = Annotated[str, Depends(require_admin)]


def admin_json(model: type[Any]) -> Any:
    """`req: Annotated[Model, admin_json(Model)]`: an admin's JSON body, parsed after the token is checked."""

    async def body(_admin: Admin, raw: RawBody) -> Any:
        return parse_admin(model, raw)

    return Depends(body)
