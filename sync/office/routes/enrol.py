"""A new kiosk enrols with its one-use code and gets the office's keys and the lists."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from sync.office import lists as office_lists
from sync.office.bodies import parse
from sync.office.deps import OfficeDep, RawBody
from sync.office.enrol import enrol
from sync.office.openapi import json_body
from sync.schemas import LIST_NAMES, EnrollRequest, EnrollResponse

router = APIRouter(prefix="/v1")


@router.post("/enroll", response_model=EnrollResponse, openapi_extra=json_body(EnrollRequest))
async def enroll(office: OfficeDep, body: RawBody) -> Any:
    req = parse(EnrollRequest, body)

    def work() -> Any:
        info = enrol(office.engine, req.code, req.public_key)
        with office.engine.begin() as conn:
            docs = [office_lists.document(conn, office.keys, name, 0) for name in LIST_NAMES]
        return {
            **info,
            "office_root_key": office.keys.root_public.hex(),
            "office_sealing_key": office.keys.sealing_public.hex(),
            "lookup_key": office.keys.lookup.hex(),
            "server_time": time.time(),
            "lists": docs,
        }

    return await run_in_threadpool(work)
