"""Is the office up (for anyone), and how is each kiosk doing (for an admin)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from sync.office.deps import Admin, EngineDep

router = APIRouter(prefix="/v1")


@router.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok", "server_time": time.time()}


@router.get("/admin/status", response_model=dict[str, Any], tags=["admin"])
async def admin_status(admin: Admin, engine: EngineDep) -> Any:
    from sync.office.status import kiosk_status

    return await run_in_threadpool(kiosk_status, engine)
