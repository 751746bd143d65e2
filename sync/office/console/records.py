"""The console's Records pages: passages, registrations, fever cases, passes issued and revoked.

One table each, filtered on the server (`sync.office.records`: the filters, the keyset pages,
what a row shows, the export), the filters in the query string so a filtered page can be
bookmarked; the filter form and the page links swap the results in with htmx (and push the
address). Export (CSV, XLSX) holds exactly what the filters select, capped with words at
`records.EXPORT_CAP`, and is an audit record. A `community` account reads its community's
gates' records only; a viewer reads and exports.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from models.errors import KakouError
from models.reasons import REASONS
from sync.office import audit
from sync.office import records as rec
from sync.office.console import auth
from sync.office.console.auth import PageSession
from sync.office.console.pages import SECURITY_HEADERS, render
from sync.office.deps import OfficeDep
from sync.office.state import Office
from sync.office.users import Account

log = logging.getLogger("kakou." + __name__)

router = APIRouter(include_in_schema=False)


def _table(table: str) -> str:
    if table not in rec.TABLES:
        raise auth.Refused("not_found", 404)
    return table


def _gates(office: Office, account: Account) -> dict[str, tuple[str, str]]:
    with office.engine.execution_options(immediate=False).connect() as conn:
        gates = rec.gates_seen(conn, account)
        conn.rollback()
    return gates


def _load(office: Office, account: Account, table: str, params: dict[str, str], lang: str) -> dict[str, Any]:
    gates = _gates(office, account)
    filters, errors = rec.parse_filters(table, params, gates)
    after = None
    try:
        after = rec.parse_cursor(params.get("after"))
    except KakouError as exc:
        errors.append(exc)
    page = rec.Page(filters, [], None) if errors else rec.page(office.engine, filters, account, gates, after)
    query = filters.query()
    return {
        "table": table,
        "tables": rec.TABLE_WORDS,
        "filters": filters,
        "errors": errors,
        "gates": gates,
        "allowed": rec.FILTERS[table],
        "directions": rec.DIRECTIONS,
        "verdicts": rec.VERDICTS,
        "kinds": rec.kind_choices(table),
        "pass_kinds": rec.pass_kind_choices(),
        "reasons": {code: info.label for code, info in REASONS.items()},
        "heads": rec.header(table, lang),
        "keys": [k for k, _w, _width in rec.COLUMNS[table]],
        "rows": [rec.cells(table, r, gates, lang) for r in page.rows],
        "query": urlencode(query),
        "days": urlencode({"from": query["from"], "to": query["to"]}),
        "next": urlencode({**query, "after": page.next.text()}) if page.next else "",
        "paged": after is not None,
        "page_size": rec.PAGE,
        "cap": f"{rec.EXPORT_CAP:,}",
    }


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k != "lang"}


@router.get("/records")
async def records_home(request: Request, session: PageSession) -> Response:
    query = request.url.query
    return RedirectResponse("/records/passages" + (f"?{query}" if query else ""), status_code=303)


@router.get("/records/{table}")
async def records_page(request: Request, office: OfficeDep, session: PageSession, table: str) -> Response:
    table = _table(table)
    lang = auth.lang_of(request)
    data = await run_in_threadpool(_load, office, session.account, table, _params(request), lang)
    status = 400 if data["errors"] else 200
    # htmx swaps the results only; a history restore (back button, cache missed) wants the whole page.
    partial = (
        request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"
    )
    return render(request, "records_rows.html" if partial else "records.html", data, status=status)


_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/records/{table}/export.{fmt}")
async def records_export(request: Request, office: OfficeDep, session: PageSession, table: str, fmt: str) -> Response:
    table = _table(table)
    if fmt not in _TYPES:
        raise auth.Refused("not_found", 404)
    lang = auth.lang_of(request)
    account = session.account

    def work() -> tuple[bytes, int, rec.Filters]:
        gates = _gates(office, account)
        filters, errors = rec.parse_filters(table, _params(request), gates)
        if errors:
            raise errors[0]
        rows = rec.export_rows(office.engine, filters, account, gates)
        body = (
            rec.csv_text(table, rows, gates, lang).encode("utf-8")
            if fmt == "csv"
            else rec.xlsx_bytes(table, rows, gates, lang)
        )
        with office.engine.begin() as conn:
            # Many people's records leaving the office in one file: who took which, and how many.
            audit.record(
                conn,
                f"console:{account.name}",
                "records_export",
                via="console",
                table=table,
                format=fmt,
                rows=len(rows),
                **filters.query(),
            )
        return body, len(rows), filters

    try:
        body, n, filters = await run_in_threadpool(work)
    except KakouError as exc:
        # The page again with the words on top: the filters that were wrong, or too many records.
        data = await run_in_threadpool(_load, office, account, table, _params(request), lang)
        data["errors"] = data["errors"] or [exc]
        return render(request, "records.html", data, status=413 if isinstance(exc, rec.TooMany) else 400)
    log.info("records export: %s %s %s rows by %s", table, fmt, n, account.name)
    name = f"kakou-{table}-{filters.day_from}-{filters.day_to}.{fmt}"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=_TYPES[fmt], headers=headers)
