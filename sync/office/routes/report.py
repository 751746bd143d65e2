"""The day report of every checkpoint, for an admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from sync.office.deps import Admin, OfficeDep

router = APIRouter(prefix="/v1")


@router.get("/admin/report", response_model=dict[str, Any], tags=["admin"])
async def admin_report(
    admin: Admin,
    office: OfficeDep,
    date: str | None = Query(default=None, max_length=32, description="YYYY-MM-DD, default today"),
) -> Any:
    from models.report import parse_day
    from sync.office import report as office_report

    day = parse_day(date)
    report, source = await run_in_threadpool(office.reads.run, lambda engine: office_report.day_report(engine, day))
    return {**report, "read_from": source.as_dict()}
