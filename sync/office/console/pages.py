"""The console's pages: login and logout, Today, Gates. Server-rendered (Jinja2), htmx for the
parts that change in place (the Today table every 30 s, the enrolment's code, a revocation).

Every page reads through the same functions as the office's commands: `console.today` (from
`report.day_report` and `status.kiosk_status`), `enrol.add_checkpoint` (as `kakou office
add-checkpoint`), `enrol.revoke_kiosk_detail` (as `kakou office revoke-kiosk`)."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from models.errors import KakouError
from models.reasons import reason_label
from sync.office import audit, users
from sync.office.console import auth
from sync.office.console import today as today_rows
from sync.office.console.auth import Changer, PageSession
from sync.office.console.words import W
from sync.office.deps import OfficeDep
from sync.office.problems import ApiProblem
from sync.office.users import Session

log = logging.getLogger("kakou." + __name__)

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATIC_URL = "/static"
ASSET_VERSION = "5"  # bump when static/ changes: browsers keep the old files otherwise

# Never framed, never a script or style from elsewhere, nothing cached: the pages hold personal data.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


def _hm(ts: float | None) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


TEMPLATES.env.filters["hm"] = _hm
TEMPLATES.env.filters["pct"] = _pct


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    session: Session | None = None,
) -> HTMLResponse:
    ctx = {**page_context(request, session), **(context or {})}
    response = TEMPLATES.TemplateResponse(request, template, ctx, status_code=status, headers=SECURITY_HEADERS)
    asked = request.query_params.get("lang")
    if asked in ("zh", "en"):
        response.set_cookie(
            auth.LANG_COOKIE, asked, max_age=365 * 86400, samesite="lax", secure=auth.secure(request), httponly=True
        )
    return response


def page_context(request: Request, session: Session | None = None) -> dict[str, Any]:
    """What every template is given: the words in the page's language, the account, its token."""
    lang = auth.lang_of(request)
    session = session or getattr(request.state, "session", None)
    return {
        "lang": lang,
        "t": lambda key, **kw: W[key].text(lang).format(**kw) if kw else W[key].text(lang),
        "words": lambda bilingual: bilingual.en if lang == "en" else bilingual.zh,
        "reason": lambda code: reason_label(code, lang),
        "session": session,
        "account": session.account if session else None,
        "csrf": session.csrf if session else "",
        "static": lambda name: f"{STATIC_URL}/{name}?v={ASSET_VERSION}",
        "path": request.url.path,
        "htmx": request.headers.get("HX-Request") == "true",
        "request": request,
    }


# -- login, logout -----------------------------------------------------------------------------


def _login_form(request: Request, *, error: str = "", status: int = 200, name: str = "", nxt: str = "/") -> Response:
    token = auth.new_login_token()
    response = render(
        request, "login.html", {"login_token": token, "error": error, "name": name, "next": nxt}, status=status
    )
    response.set_cookie(auth.LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=auth.secure(request))
    return response


def _local(path: str) -> str:
    # Only a path of this office: "//evil.example" and "https://..." would send the clerk away.
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    words = ""
    if request.query_params.get("timed_out"):
        words = "timed_out"
    elif request.query_params.get("bye"):
        words = "logged_out"
    return _login_form(request, error=words, nxt=_local(next))


@router.post("/login")
async def login(
    request: Request,
    office: OfficeDep,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    cookie = request.cookies.get(auth.LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode()):
        return _login_form(request, error="csrf", status=403, name=name, nxt=_local(next))
    address = auth.login_address(request)
    key = name.strip()
    try:
        auth.take_login_try(office, address, key)
    except ApiProblem as exc:
        return _too_many(request, exc, name, _local(next))
    account = await run_in_threadpool(users.check_login, office.engine, name, password)
    if account is None:
        log.warning("console login refused for %r from %s", key[:64], address)
        return _login_form(request, error="bad_login", status=401, name=name, nxt=_local(next))
    auth.give_back_login(office, address, key)
    token, _session = await run_in_threadpool(users.start_session, office.engine, account)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        auth.SESSION_COOKIE, token, httponly=True, samesite="strict", secure=auth.secure(request), path="/"
    )
    response.delete_cookie(auth.LOGIN_COOKIE)
    log.info("console login: %s (%s) from %s", account.name, account.role, address)
    return response


def _too_many(request: Request, exc: ApiProblem, name: str, nxt: str) -> Response:
    token = auth.new_login_token()
    message = exc.en if auth.lang_of(request) == "en" else exc.zh
    response = render(
        request, "login.html", {"login_token": token, "message": message, "name": name, "next": nxt}, status=429
    )
    response.set_cookie(auth.LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=auth.secure(request))
    for k, v in exc.headers.items():
        response.headers[k] = v
    return response


@router.post("/logout")
async def logout(request: Request, office: OfficeDep, session: PageSession) -> Response:
    await auth.check_csrf(request, session.csrf)  # a page elsewhere cannot log the clerk out either
    await run_in_threadpool(users.end_session, office.engine, request.cookies.get(auth.SESSION_COOKIE, ""))
    response = RedirectResponse("/login?bye=1", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


# -- Today -------------------------------------------------------------------------------------


def _day(value: str | None) -> tuple[dt.date, KakouError | None]:
    from models.report import parse_day

    try:
        return parse_day(value), None
    except KakouError as exc:
        return dt.date.today(), exc


@router.get("/")
async def today_page(request: Request, office: OfficeDep, session: PageSession, day: str | None = None) -> Response:
    when, error = _day(day)
    data = await run_in_threadpool(today_rows.today, office.engine, when, session.account)
    return render(request, "today.html", {"today": data, "error": error, "day": when.isoformat()})


@router.get("/today/rows")
async def today_partial(request: Request, office: OfficeDep, session: PageSession, day: str | None = None) -> Response:
    when, _error = _day(day)
    data = await run_in_threadpool(today_rows.today, office.engine, when, session.account)
    return render(request, "today_rows.html", {"today": data, "day": when.isoformat()})


# -- Gates -------------------------------------------------------------------------------------


def _gates(office: Any, session: Session) -> dict[str, Any]:
    from sqlalchemy import select

    from sync.office import tables as t
    from sync.office.status import kiosk_status

    kiosks = [k for k in kiosk_status(office.engine, counts=False)["kiosks"] if session.account.sees(k["community"])]
    with office.engine.execution_options(immediate=False).connect() as conn:
        communities = [r.name for r in conn.execute(select(t.community.c.name).order_by(t.community.c.name))]
        conn.rollback()
    return {"kiosks": kiosks, "communities": [c for c in communities if session.account.sees(c)]}


@router.get("/gates")
async def gates_page(request: Request, office: OfficeDep, session: PageSession) -> Response:
    data = await run_in_threadpool(_gates, office, session)
    return render(request, "gates.html", data)


def _qr_svg(text: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    return str(svg).split("?>", 1)[-1]  # the XML declaration does not belong inside HTML


@router.post("/gates/enrol")
async def enrol_gate(
    request: Request,
    office: OfficeDep,
    session: Changer,
    name: Annotated[str, Form(max_length=100)] = "",
    community: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    from sync.office.enrol import add_checkpoint

    account = session.account
    if account.role == "community":
        community = account.community or ""  # a community clerk enrols gates of its own community only
    actor = f"console:{account.name}"

    def work() -> dict[str, Any]:
        info = add_checkpoint(office.engine, name, community)
        with office.engine.begin() as conn:
            audit.record(
                conn,
                actor,
                "add_checkpoint",
                via="console",
                checkpoint=info["name"],
                community=info["community"],
                kiosk_id=info["kiosk_id"],
            )
        return info

    try:
        info = await run_in_threadpool(work)
    except KakouError as exc:
        return render(request, "enrolled.html", {"problem": exc}, status=400)
    return render(request, "enrolled.html", {"info": info, "qr": _qr_svg(info["code"])})


@router.post("/gates/{kiosk_id}/revoke")
async def revoke_gate(request: Request, office: OfficeDep, session: Changer, kiosk_id: str) -> Response:
    from sync.office.enrol import find_kiosk, revoke_kiosk_detail

    account = session.account
    actor = f"console:{account.name}"

    def work() -> Any:
        row = find_kiosk(office.engine, kiosk_id)
        if row.kiosk_id != kiosk_id or not account.sees(row.community):
            raise auth.Refused("not_yours", 404)  # another community's gate is not even named
        done = revoke_kiosk_detail(office.engine, kiosk_id, by=actor)
        with office.engine.begin() as conn:
            audit.record(
                conn,
                actor,
                "revoke_kiosk",
                via="console",
                checkpoint=row.name,
                kiosk_id=done.kiosk_id,
                since=done.since,
                vouched=done.vouched,
                withdrawn=done.withdrawn,
            )
        return row, done

    try:
        row, done = await run_in_threadpool(work)
    except KakouError as exc:
        return render(request, "revoked.html", {"problem": exc}, status=404)
    office.forget(done.kiosk_id)  # this process's key cache: its next request is refused at once
    return render(request, "revoked.html", {"row": row, "done": done})


# -- Lists -------------------------------------------------------------------------------------

LIST_NAMES = ("quarantine", "watch")


def _lists(office: Any, session: Session) -> dict[str, Any]:
    """The lists as this account may see them: a community account sees the unit entries of its
    own community (and the street-wide ones, which its gates take too), never another's."""
    import json

    from sqlalchemy import select

    from sync.office import lists as office_lists
    from sync.office import tables as t
    from sync.office.status import kiosk_status

    account = session.account
    with office.engine.execution_options(immediate=False).connect() as conn:
        versions = office_lists.versions(conn)
        communities = {
            int(r.community_id): str(r.name)
            for r in conn.execute(select(t.community.c.community_id, t.community.c.name).order_by(t.community.c.name))
        }
        rows = conn.execute(
            select(t.list_item.c.list_name, t.list_item.c.item_key, t.list_item.c.value, t.list_item.c.community_id)
            .where(t.list_item.c.list_name.in_(LIST_NAMES), t.list_item.c.deleted.is_(False))
            .order_by(t.list_item.c.list_name, t.list_item.c.item_key)
        ).all()
        conn.rollback()
    items: dict[str, list[dict[str, Any]]] = {name: [] for name in LIST_NAMES}
    for name, key, value, community_id in rows:
        community = communities.get(int(community_id)) if community_id is not None else None
        if community_id is not None and not account.sees(community):
            continue  # another community's household: not even its unit code is shown
        entry = json.loads(value or "{}")
        items[name].append({**entry, "key": key, "community": community})
    # Which of the gates this account sees have each list's newest version (they take it at
    # their next pull; a change of another community's moves their version too).
    active = [
        k
        for k in kiosk_status(office.engine, counts=False)["kiosks"]
        if k["status"] == "active" and account.sees(k["community"])
    ]
    have = {
        name: sum(1 for k in active if k["list_versions"].get(name, 0) >= versions.get(name, 0))
        for name in (*LIST_NAMES, "revoked")
    }
    return {
        "items": items,
        "versions": versions,
        "have": have,
        "active": len(active),
        "communities": list(communities.values()),
    }


@router.get("/lists")
async def lists_page(request: Request, office: OfficeDep, session: PageSession) -> Response:
    data = await run_in_threadpool(_lists, office, session)
    return render(request, "lists.html", data)


async def _lists_after(
    request: Request, office: Any, session: Session, said: dict[str, Any], *, status: int = 200
) -> Response:
    """The Lists page again, with what was done or why not on top (htmx swaps its <main> in)."""
    data = await run_in_threadpool(_lists, office, session)
    return render(request, "lists.html", {**data, **said}, status=status)


def _street(session: Session) -> None:
    # Revoked passes are the street's: every gate of every community takes them.
    if session.account.role != "street":
        raise auth.Refused("street_only")


def _entry_community(session: Session, unit: str, id_number: str, community: str) -> str:
    """The community a change is for: a street account's pick; a community account's own, and
    nothing else (a person, listed street-wide, or another community's unit is refused)."""
    account = session.account
    if account.role == "street":
        return "" if id_number else community  # a person is the street's, whichever community is picked
    if id_number or not unit:
        raise auth.Refused("person_street_only")
    if community and community != account.community:
        raise auth.Refused("list_not_yours")
    return account.community or ""


@router.post("/lists/{list_name}/{action}")
async def change_list(
    request: Request,
    office: OfficeDep,
    session: Changer,
    list_name: str,
    action: str,
    unit: Annotated[str, Form(max_length=40)] = "",
    id_number: Annotated[str, Form(max_length=40)] = "",
    until: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=200)] = "",
    community: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    from sync.office.admin import list_entry, until_day

    if list_name not in LIST_NAMES or action not in ("add", "remove"):
        raise auth.Refused("not_found", 404)
    place = _entry_community(session, unit.strip(), id_number.strip(), community.strip())
    actor = f"console:{session.account.name}"

    def work() -> tuple[int, str]:
        return list_entry(
            office.engine,
            list_name,
            action,
            unit=unit.strip() or None,
            id_number=id_number.strip() or None,
            until=until_day(until) if action == "add" else None,
            note=note,
            by=actor,
            via="console",
            lookup_key=office.keys.lookup,
            community=place or None,
            place_street_wide=session.account.role == "street",
        )

    try:
        _version, who = await run_in_threadpool(work)
    except KakouError as exc:
        return await _lists_after(request, office, session, {"problem": exc}, status=400)
    said = {"done": W["list_" + action].text(auth.lang_of(request)), "who": who}
    return await _lists_after(request, office, session, said)


@router.post("/lists/revoke")
async def revoke_pass(
    request: Request,
    office: OfficeDep,
    session: Changer,
    pass_id: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    from sync.office.admin import revoke_pass as office_revoke

    _street(session)
    actor = f"console:{session.account.name}"
    try:
        await run_in_threadpool(lambda: office_revoke(office.engine, pass_id, reason, by=actor, via="console"))
    except KakouError as exc:
        return await _lists_after(request, office, session, {"problem": exc}, status=400)
    who = pass_id.strip().lower()
    said = {"done": W["pass_revoked"].text(auth.lang_of(request)), "who": who}
    return await _lists_after(request, office, session, said)


# -- Audit -------------------------------------------------------------------------------------

AUDIT_PAGE = 200


@router.get("/audit")
async def audit_page(request: Request, office: OfficeDep, session: PageSession, action: str | None = None) -> Response:
    # The trail names every community's clerks and what they opened: the street's to read
    # (and its viewers'), not one community's.
    if session.account.role == "community":
        raise auth.Refused("audit_street_only")
    action = (action or "").strip()[:32] or None
    rows = await run_in_threadpool(lambda: audit.recent(office.engine, limit=AUDIT_PAGE, action=action))
    return render(request, "audit.html", {"rows": rows, "action": action or ""})


# -- Alerts ------------------------------------------------------------------------------------

ALERT_PAGE = 200
STREAM_LIFETIME_S = 300.0  # then the browser reconnects (Last-Event-ID): the session is checked again
KEEPALIVE_S = 15.0
# A page asks for the alerts withdrawn since it was drawn, less this: withdrawals are stamped by
# whichever office process stored the disproving record, whose clock and commit order may differ
# a little from this one's (a row shown withdrawn twice is left as it is).
WITHDRAWN_SLACK_S = 60.0
SWEEP_EVERY_S = 30.0
_last_sweep = [0.0]


def _sweep_due(office: Any) -> None:
    """The sweep (silent gates, fevers not rechecked) when a page or stream asks, at most every
    SWEEP_EVERY_S per process; the office also sweeps in the background (sync/office/sweeper.py)."""
    from sync.office.sweeper import sweep_once

    now = time.time()
    if now - _last_sweep[0] < SWEEP_EVERY_S:
        return
    _last_sweep[0] = now
    sweep_once(office.engine, now=now)  # at once, before the background sweep's next turn


def _alert_ctx(request: Request, session: Session) -> dict[str, Any]:
    from sync.office import alerts

    lang = auth.lang_of(request)
    return {
        "what": lambda a: alerts.what(a["kind"], a["reason"], lang),
        "why": lambda a: alerts.withdrawn_why(a, lang),
        "can_ack": session.account.can_change,
    }


def _alerts(office: Any, session: Session, after: int = 0) -> list[dict[str, Any]]:
    from sync.office import alerts

    _sweep_due(office)
    return alerts.latest(office.engine, session.account, after=after, limit=ALERT_PAGE)


def _withdrawn(office: Any, session: Session, since: float) -> list[dict[str, Any]]:
    from sync.office import alerts

    return alerts.latest(office.engine, session.account, withdrawn_since=since, limit=ALERT_PAGE)


@router.get("/alerts")
async def alerts_page(request: Request, office: OfficeDep, session: PageSession) -> Response:
    since = time.time() - WITHDRAWN_SLACK_S  # before the read: a withdrawal during it is asked for again
    rows = await run_in_threadpool(_alerts, office, session)
    newest = rows[0]["id"] if rows else 0
    data = {
        "rows": [r for r in rows if r["withdrawn_at"] is None],
        "withdrawn": [r for r in rows if r["withdrawn_at"] is not None],
        "newest": newest,
        "since": f"{since:.3f}",
    }
    return render(request, "alerts.html", {**data, **_alert_ctx(request, session)})


@router.get("/alerts/rows")
async def alerts_rows(
    request: Request, office: OfficeDep, session: PageSession, after: int = 0, since: float | None = None
) -> Response:
    """The polling fallback: the alerts newer than `after`, and those withdrawn after `since`
    (the page's server time), as table rows (newest first)."""
    rows = await run_in_threadpool(_alerts, office, session, max(after, 0))
    if since is not None:
        known = {r["id"] for r in rows}
        rows += [r for r in await run_in_threadpool(_withdrawn, office, session, since) if r["id"] not in known]
    return render(request, "alert_rows.html", {"rows": rows, **_alert_ctx(request, session)})


def _last_event_id(request: Request, after: int) -> int:
    raw = request.headers.get("Last-Event-ID", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else max(after, 0)


@router.get("/alerts/stream")
async def alerts_stream(
    request: Request, office: OfficeDep, session: PageSession, after: int = 0, since: float | None = None
) -> Response:
    """Server-sent events: every alert newer than the last one this page has (Last-Event-ID on a
    reconnect, else `after`), then each new one as it is made, as a table row; and every alert
    the office withdrew after `since` (the page's server time), as its row again, withdrawn (no
    event id: Last-Event-ID stays the newest alert's). Ends after STREAM_LIFETIME_S (the browser
    reconnects and the session is checked again)."""
    from fastapi.responses import StreamingResponse

    from sync.office.console import live

    last = _last_event_id(request, after)
    live.listen(office.engine)
    ctx = _alert_ctx(request, session)
    template = TEMPLATES.get_template("alert_rows.html")
    base = page_context(request, session)

    withdrawn_since = time.time() - WITHDRAWN_SLACK_S if since is None else since
    sent_withdrawn: set[int] = set()

    async def events() -> Any:
        nonlocal last, withdrawn_since
        started = quiet_since = time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() - started < STREAM_LIFETIME_S:
            if await request.is_disconnected():
                return
            rows = await run_in_threadpool(_alerts, office, session, last)
            for row in reversed(rows):  # oldest first: the page puts each on top
                html = template.render({**base, **ctx, "rows": [row]})
                yield live.sse(row["id"], html.strip())
                last = max(last, row["id"])
                if row["withdrawn_at"] is not None:
                    sent_withdrawn.add(row["id"])
                quiet_since = time.monotonic()
            for row in reversed(await run_in_threadpool(_withdrawn, office, session, withdrawn_since)):
                if row["id"] in sent_withdrawn:
                    continue
                sent_withdrawn.add(row["id"])
                html = template.render({**base, **ctx, "rows": [row]})
                yield live.sse(None, html.strip())
                withdrawn_since = max(withdrawn_since, row["withdrawn_at"] - WITHDRAWN_SLACK_S)
                quiet_since = time.monotonic()
            if time.monotonic() - quiet_since > KEEPALIVE_S:
                yield ": keepalive\n\n"
                quiet_since = time.monotonic()
            await live.BELL.wait(live.POLL_S)

    headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.post("/alerts/{alert_id}/ack")
async def acknowledge_alert(
    request: Request,
    office: OfficeDep,
    session: Changer,
    alert_id: int,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    from sync.office import alerts

    try:
        await run_in_threadpool(alerts.acknowledge, office.engine, alert_id, session.account, note)
    except KakouError as exc:
        if exc.code == "no_such_alert":
            raise auth.Refused("not_found", 404) from exc
        rows = await run_in_threadpool(_one_alert, office, session, alert_id)
        return render(request, "alert_rows.html", {"rows": rows, "problem": exc, **_alert_ctx(request, session)})
    rows = await run_in_threadpool(_one_alert, office, session, alert_id)
    return render(request, "alert_rows.html", {"rows": rows, **_alert_ctx(request, session)})


def _one_alert(office: Any, session: Session, alert_id: int) -> list[dict[str, Any]]:
    from sync.office import alerts

    return alerts.latest(office.engine, session.account, only=alert_id)
