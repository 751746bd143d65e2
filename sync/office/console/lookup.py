"""Opening sealed personal data (`/lookup`): registrations found by unit (or by record id),
masked; a street account, or a community account for its own community's gates, opens one's
full ID number and phone only with a reason, through `sealed.lookup` (as `kakou office lookup`):
an audit row (who, when, why, which record) is written before anything is shown. A viewer
never opens anything; a lookup without a reason is refused in words."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from models.errors import KakouError
from sync.office import registration_search
from sync.office.console.auth import Changer, PageSession
from sync.office.console.pages import render
from sync.office.deps import OfficeDep

router = APIRouter(include_in_schema=False)


def _days(since: str | None, until: str | None) -> tuple[dt.date | None, dt.date | None]:
    from models.report import parse_day

    return (parse_day(since) if since else None, parse_day(until) if until else None)


@router.get("/lookup")
async def lookup_page(
    request: Request,
    office: OfficeDep,
    session: PageSession,
    unit: str = "",
    record: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    unit, record, since, until = unit[:40].strip(), record[:64].strip(), since[:20], until[:20]
    ctx: dict[str, Any] = {"unit": unit, "record": record, "since": since, "until": until, "rows": None}
    if unit or record:
        try:
            low, high = _days(since, until)
            ctx["rows"] = await run_in_threadpool(
                lambda: registration_search.find(
                    office.engine, session.account, unit=unit, record_id=record or None, since=low, until=high
                )
            )
        except KakouError as exc:
            return render(request, "lookup.html", {**ctx, "problem": exc}, status=400)
    return render(request, "lookup.html", ctx)


@router.post("/lookup/{record_id}")
async def open_sealed(
    request: Request,
    office: OfficeDep,
    session: Changer,
    record_id: str,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    from sync.office import sealed

    account = session.account
    # A community clerk opens its own community's registrations only; the street's, any.
    community = (account.community or "") if account.role == "community" else None
    actor = f"console:{account.name}"
    ctx: dict[str, Any] = {"unit": "", "record": record_id[:64], "since": "", "until": "", "rows": None}
    try:
        result = await run_in_threadpool(
            lambda: sealed.lookup(
                office.engine, office.keys, record_id, admin=actor, reason=reason, via="console", community=community
            )
        )
    except sealed.SealedLookupError as exc:
        return render(request, "lookup.html", {**ctx, "problem": exc}, status=exc.status)
    except KakouError as exc:  # no reason, or one too long: nothing opened, nothing audited
        rows = await run_in_threadpool(lambda: registration_search.find(office.engine, account, record_id=record_id))
        return render(request, "lookup.html", {**ctx, "rows": rows, "problem": exc}, status=400)
    return render(request, "lookup.html", {**ctx, "opened": result, "reason": " ".join(reason.split())})
