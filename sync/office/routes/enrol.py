"""A new kiosk enrols with its one-use code and gets the office's keys and the lists.

Codes are short enough to guess at, so tries are limited (`tries`): per client address, in an
office-wide budget of wrong codes, and per code by its near misses; each wrong try is logged."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from sync.office import lists as office_lists
from sync.office import tries
from sync.office.bodies import parse
from sync.office.deps import OfficeDep, RawBody
from sync.office.enrol import EnrolError, enrol, normalise_code
from sync.office.openapi import json_body
from sync.schemas import LIST_NAMES, EnrollRequest, EnrollResponse

log = logging.getLogger("kakou." + __name__)

router = APIRouter(prefix="/v1")


@router.post("/enroll", response_model=EnrollResponse, openapi_extra=json_body(EnrollRequest))
async def enroll(request: Request, office: OfficeDep, body: RawBody) -> Any:
    req = parse(EnrollRequest, body)
    address = tries.client_address(request.client.host if request.client else None)
    office.tries.take("enrol", address)  # 429 from memory, before the database is asked anything
    await run_in_threadpool(tries.check_enrol_budget, office.engine, office.settings.enrol_wrong_per_hour)

    def work() -> Any:
        info = enrol(
            office.engine, req.code, req.public_key, handover_key_hex=req.handover_key, office_keys=office.keys
        )
        with office.engine.begin() as conn:
            community = info.get("community_id")
            docs = [office_lists.document(conn, office.keys, name, 0, community) for name in LIST_NAMES]
        return {
            **info,
            "office_root_key": office.keys.root_public.hex(),
            "office_sealing_key": office.keys.sealing_public.hex(),
            "lookup_key": office.keys.lookup.hex(),
            "server_time": time.time(),
            "lists": docs,
        }

    try:
        answer = await run_in_threadpool(work)
    except EnrolError as exc:
        if exc.code == "bad_code":
            await run_in_threadpool(
                lambda: tries.wrong_code(
                    office.engine,
                    normalise_code(req.code),
                    lock_after=office.settings.code_wrong_tries,
                    address=address,
                )
            )
        else:
            log.warning("enrolment refused (%s) from %s", exc.code, address)
        raise
    office.tries.give_back("enrol", address)
    return answer
