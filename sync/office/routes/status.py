"""Is the office up (for anyone), and how is each kiosk doing (for an admin)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from sync.office.deps import Admin, OfficeDep

router = APIRouter(prefix="/v1")


@router.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok", "server_time": time.time()}


@router.get("/admin/status", response_model=dict[str, Any], tags=["admin"])
async def admin_status(admin: Admin, office: OfficeDep) -> Any:
    from sync.office.status import kiosk_status

    status, source = await run_in_threadpool(office.reads.run, kiosk_status)
    return {**status, "read_from": source.as_dict()}
