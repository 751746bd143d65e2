"""The signed lists a kiosk pulls (revoked, quarantine, watch, policy), whole or since a version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sync.office import lists as office_lists
from sync.office import problems
from sync.office.deps import OfficeDep, SignedGet
from sync.office.problems import ApiProblem
from sync.schemas import LIST_NAMES, ListDocument, Problem

router = APIRouter(prefix="/v1")


@router.get(
    "/lists/{name}",
    response_model=ListDocument,
    responses={304: {"description": "not modified"}, 404: {"model": Problem}},
)
async def list_document(
    name: str, office: OfficeDep, kiosk: SignedGet, since: int = Query(default=0, ge=0, le=2**31 - 1)
) -> Any:
    if name not in LIST_NAMES:
        raise ApiProblem(problems.UNKNOWN_LIST, name=name)

    def work() -> Any:
        with office.engine.begin() as conn:
            version = office_lists.current_version(conn, name)
            if since == version and since > 0:
                return None, version
            community = office_lists.kiosk_community(conn, kiosk.kiosk_id)
            return office_lists.document(conn, office.keys, name, since, community), version

    doc, version = await run_in_threadpool(work)
    etag = f'"{name}-{version}"'
    if doc is None:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(doc, headers={"ETag": etag})
