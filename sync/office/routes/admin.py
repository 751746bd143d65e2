"""The admin API: a bearer token from `kakou office add-admin`; every change is audited.

Revoke a pass, add to or remove from the quarantine and watch lists, set the policy, open the
sealed numbers of one registration, read the audit trail, purge old personal data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sync.office import admin as office_admin
from sync.office.deps import Admin, EngineDep, OfficeDep, admin_json
from sync.office.openapi import json_body
from sync.office.sealed import LookupResult
from sync.schemas import Problem

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/revoke", response_model=office_admin.ListChange, openapi_extra=json_body(office_admin.RevokeRequest))
async def admin_revoke(
    admin: Admin,
    engine: EngineDep,
    req: Annotated[office_admin.RevokeRequest, admin_json(office_admin.RevokeRequest)],
) -> Any:
    version, pass_id = await run_in_threadpool(
        office_admin.revoke_known_pass, engine, req.pass_id, req.reason, by=admin, via="http"
    )
    return {"list": "revoked", "version": version, "who": pass_id}


def _list_route(list_name: str, action: str) -> None:
    async def change(
        admin: Admin,
        office: OfficeDep,
        req: Annotated[office_admin.ListEntryRequest, admin_json(office_admin.ListEntryRequest)],
    ) -> Any:
        until = office_admin.until_day(req.until) if action == "add" else None
        version, who = await run_in_threadpool(
            lambda: office_admin.list_entry(
                office.engine,
                list_name,
                action,
                unit=req.unit,
                id_number=req.id_number,
                until=until,
                note=req.note,
                by=admin,
                via="http",
                lookup_key=office.keys.lookup,
                community=req.community,
            )
        )
        return {"list": list_name, "version": version, "who": who}

    router.add_api_route(
        f"/{list_name}/{action}",
        change,
        methods=["POST"],
        response_model=office_admin.ListChange,
        name=f"admin_{list_name}_{action}",
        responses={404: {"model": Problem}},
        openapi_extra=json_body(office_admin.ListEntryRequest),
    )


for _list_name in ("quarantine", "watch"):
    for _action in ("add", "remove"):
        _list_route(_list_name, _action)


@router.post("/policy", response_model=office_admin.PolicyChange, openapi_extra=json_body(office_admin.PolicyRequest))
async def admin_policy(
    admin: Admin,
    engine: EngineDep,
    req: Annotated[office_admin.PolicyRequest, admin_json(office_admin.PolicyRequest)],
) -> Any:
    version, values = await run_in_threadpool(office_admin.set_policy, engine, req.settings, by=admin, via="http")
    return {"version": version, "settings": values}


@router.post(
    "/lookup",
    response_model=LookupResult,
    responses={404: {"model": Problem}, 409: {"model": Problem}, 410: {"model": Problem}},
    openapi_extra=json_body(office_admin.LookupRequest),
)
async def admin_lookup(
    admin: Admin,
    office: OfficeDep,
    req: Annotated[office_admin.LookupRequest, admin_json(office_admin.LookupRequest)],
) -> Any:
    from sync.office import sealed

    # A lookup that opens nothing is a SealedLookupError: answered with its catalogue status.
    result = await run_in_threadpool(
        lambda: sealed.lookup(office.engine, office.keys, req.record_id, admin=admin, reason=req.reason, via="http")
    )
    # Full numbers must not linger in caches or proxies between the office and the clerk.
    return JSONResponse(result.as_dict(), headers={"Cache-Control": "no-store"})


@router.get("/audit", response_model=list[office_admin.AuditRow])
async def admin_audit(
    admin: Admin,
    engine: EngineDep,
    limit: int = Query(default=100, ge=1, le=1000),
    action: str | None = Query(default=None, max_length=32),
) -> Any:
    from sync.office import audit as office_audit

    return await run_in_threadpool(lambda: office_audit.recent(engine, limit=limit, action=action))


@router.post("/purge", response_model=office_admin.PurgeAnswer, openapi_extra=json_body(office_admin.PurgeRequest))
async def admin_purge(
    admin: Admin,
    engine: EngineDep,
    req: Annotated[office_admin.PurgeRequest, admin_json(office_admin.PurgeRequest)],
) -> Any:
    from sync.office import sealed

    result = await run_in_threadpool(
        lambda: sealed.purge(engine, older_than_days=req.older_than_days, admin=admin, via="http")
    )
    return result.as_dict()
