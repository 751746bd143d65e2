"""The Policy page (`/policy`): every key with its type, range, meaning and value, its history,
and which gates apply the current version. A street account changes a value through
`admin.set_policy`, as `kakou office policy set` does (audited as "policy_set"); community and
viewer accounts read. The logic: `sync.office.policy_info`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from models.errors import KakouError
from sync.office import policy_info
from sync.office.console import auth
from sync.office.console.auth import Changer, PageSession
from sync.office.console.pages import render
from sync.office.console.words import W
from sync.office.deps import OfficeDep
from sync.office.users import Session

router = APIRouter(include_in_schema=False)

HISTORY = 100


def _page(office: Any, session: Session) -> dict[str, Any]:
    return {
        **policy_info.describe(office.engine),
        "history": policy_info.history(office.engine, limit=HISTORY),
        "gates": policy_info.gates(office.engine, session.account),
    }


async def _policy_page(
    request: Request, office: Any, session: Session, said: dict[str, Any], status: int = 200
) -> Response:
    data = await run_in_threadpool(_page, office, session)
    return render(request, "policy.html", {**data, **said}, status=status)


@router.get("/policy")
async def policy_page(request: Request, office: OfficeDep, session: PageSession) -> Response:
    return await _policy_page(request, office, session, {})


@router.post("/policy")
async def change_policy(
    request: Request,
    office: OfficeDep,
    session: Changer,
    key: Annotated[str, Form(max_length=80)] = "",
    value: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    from sync.office.admin import set_policy

    # The policy is the street's: every gate of every community applies it.
    if session.account.role != "street":
        raise auth.Refused("policy_street_only")
    actor = f"console:{session.account.name}"
    try:
        version, values = await run_in_threadpool(
            lambda: set_policy(office.engine, {key: value}, by=actor, via="console")
        )
    except KakouError as exc:
        return await _policy_page(request, office, session, {"problem": exc, "tried": key}, status=400)
    done = ", ".join(f"{k}={policy_info.shown(v)}" for k, v in values.items())
    lang = auth.lang_of(request)
    return await _policy_page(request, office, session, {"done": f"{W['policy_set'].text(lang)} {done} (v{version})"})
