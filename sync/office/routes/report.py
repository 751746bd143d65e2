"""The day report of every checkpoint, for an admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from sync.office.deps import Admin, EngineDep

router = APIRouter(prefix="/v1")


@router.get("/admin/report", response_model=dict[str, Any], tags=["admin"])
async def admin_report(
    admin: Admin,
    engine: EngineDep,
    date: str | None = Query(default=None, max_length=32, description="YYYY-MM-DD, default today"),
) -> Any:
    from models.report import parse_day
    from sync.office import report as office_report

    day = parse_day(date)
    return await run_in_threadpool(office_report.day_report, engine, day)
