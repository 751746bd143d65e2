"""The dependencies the office's routes share, as `Annotated` aliases: declare `office: OfficeDep`,
`kiosk: SignedPost`, `admin: Admin` ... in a route's signature and FastAPI supplies them.

Order matters where a dependency refuses: a push takes its upload slot before its body is read
(`PushKiosk`), and an admin route checks the token before it reads the body (declare `admin`
first: FastAPI resolves dependencies in the order of the parameters).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from sync import signing
from sync.office import admin as office_admin
from sync.office import problems
from sync.office.bodies import parse_admin, read_body, signed_target
from sync.office.problems import ApiProblem
from sync.office.settings import OfficeSettings
from sync.office.state import Office, SignedKiosk


async def get_office(request: Request) -> Office:
    # async, as are the two below: FastAPI runs a plain `def` dependency in a worker thread.
    office: Office = request.app.state.office
    return office


OfficeDep = Annotated[Office, Depends(get_office)]


async def get_engine(office: OfficeDep) -> Engine:
    return office.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


async def get_settings(office: OfficeDep) -> OfficeSettings:
    return office.settings


SettingsDep = Annotated[OfficeSettings, Depends(get_settings)]

# The raw body as sent, capped (read once per request; every dependency that asks shares it).
RawBody = Annotated[bytes, Depends(read_body)]


# -- the signed kiosk --------------------------------------------------------------------------


async def signed_get(request: Request, office: OfficeDep) -> SignedKiosk:
    return await office.authenticate(request, signing.get_body("GET", signed_target(request)))


async def signed_post(request: Request, office: OfficeDep, body: RawBody) -> SignedKiosk:
    return await office.authenticate(request, body)


async def push_kiosk(request: Request) -> AsyncIterator[SignedKiosk]:
    """A push: one of the office's upload slots for the whole push (429 before anything is read),
    then the body's signature, with the key from memory (the push's transaction checks it
    against the kiosk's row). One dependency, not three: this is the office's hot path."""
    office: Office = request.app.state.office
    office.acquire()
    try:
        yield await office.authenticate(request, await read_body(request), cached=True)
    finally:
        office.release()


SignedGet = Annotated[SignedKiosk, Depends(signed_get)]  # a GET: its path and query are signed
SignedPost = Annotated[SignedKiosk, Depends(signed_post)]  # a POST: its body is signed
# scope="function": the slot is free again as soon as the route returns, before the answer is
# sent, so a kiosk that pushes again right after its answer never finds its own slot taken.
PushKiosk = Annotated[SignedKiosk, Depends(push_kiosk, scope="function")]  # upload slot, then signature


# -- the admin ---------------------------------------------------------------------------------

admin_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="an admin token printed once by `kakou office add-admin NAME`",
)


def require_admin(
    engine: EngineDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)]
) -> str:
    """The admin's name for a valid bearer token (from `kakou office add-admin`)."""
    name = office_admin.admin_for_token(engine, credentials.credentials) if credentials else None
    if name is None:
        raise ApiProblem(problems.ADMIN_TOKEN)
    return name


Admin = Annotated[str, Depends(require_admin)]


def admin_json(model: type[Any]) -> Any:
    """`req: Annotated[Model, admin_json(Model)]`: an admin's JSON body, parsed after the token is checked."""

    async def body(_admin: Admin, raw: RawBody) -> Any:
        return parse_admin(model, raw)

    return Depends(body)
