"""A kiosk's sync: where it stands (sync-state), its records (push), which of them the office has (known).

Pushes are answered only after their transaction committed, each holding one of the office's
upload slots (`deps.PushKiosk`): when all are taken the answer is 429 with Retry-After.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from sync.office import ingest as office_ingest
from sync.office import problems
from sync.office.bodies import inflate, parse
from sync.office.deps import OfficeDep, PushKiosk, SignedGet, SignedPost
from sync.office.openapi import json_body
from sync.office.problems import ApiProblem
from sync.schemas import BIGINT_MAX, LIST_NAMES, KnownQuery, KnownResult, PushBatch, PushResult, SyncState

router = APIRouter(prefix="/v1")


@router.get("/sync-state", response_model=SyncState)
async def sync_state(
    office: OfficeDep,
    kiosk: SignedGet,
    wall: float | None = None,
    lists: str = Query(default="", max_length=1024),
    tip: str = Query(default="", max_length=128),
) -> Any:
    if wall is not None and not math.isfinite(wall):
        wall = None  # "nan" and "inf" parse as floats but are no clock reading
    seq_text = tip.partition(":")[0]
    if not seq_text.isascii():
        tip = ""  # "²" is a digit to str.isdigit but no number to int(): no tip, as any other non-number
    elif seq_text.isdigit() and int(seq_text) > BIGINT_MAX:  # no seq is that large: never ask the database
        raise ApiProblem(problems.MALFORMED_REQUEST, detail="tip: seq out of range")
    versions = {}
    for part in lists.split(",")[:16]:
        name, _, version = part.partition(":")
        if name in LIST_NAMES and version.isascii() and version.isdigit() and int(version) <= BIGINT_MAX:
            versions[name] = int(version)
    return await run_in_threadpool(
        office_ingest.sync_state,
        office.engine,
        kiosk.kiosk_id,
        wall=wall,
        list_versions=versions if lists else None,
        tip=tip,
        epoch=kiosk.epoch,
        stamp=kiosk.stamp,
    )


@router.post("/push", response_model=PushResult, openapi_extra=json_body(PushBatch))
async def push(request: Request, office: OfficeDep, kiosk: PushKiosk) -> Any:
    batch = parse(PushBatch, inflate(request, kiosk.body))
    if batch.epoch != kiosk.epoch:
        raise ApiProblem(problems.EPOCH_MISMATCH)
    hook = (lambda: time.sleep(office.commit_delay)) if office.commit_delay else None
    try:
        return await run_in_threadpool(
            office_ingest.ingest,
            office.engine,
            kiosk.kiosk_id,
            batch,
            before_commit=hook,
            public_key=kiosk.public_key.hex(),
            stamp=kiosk.stamp,
        )
    except office_ingest.KioskRefused:
        # Revoked since its key was remembered (here or by another process): the database's
        # words, and the key is forgotten.
        office.forget(kiosk.kiosk_id)
        await office.authenticate(request, kiosk.body)  # answers 403 kiosk_revoked / 401 bad_signature
        raise ApiProblem(problems.KIOSK_CHANGED) from None


@router.post("/known", response_model=KnownResult, openapi_extra=json_body(KnownQuery))
async def known(request: Request, office: OfficeDep, kiosk: SignedPost) -> Any:
    query = parse(KnownQuery, inflate(request, kiosk.body))
    return {"known": await run_in_threadpool(office_ingest.known, office.engine, kiosk.kiosk_id, query.record_ids)}
