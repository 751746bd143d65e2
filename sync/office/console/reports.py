"""The Reports page (`/reports`): the day report as `kakou office report` prints it (for a
community account, its own checkpoints and their totals), its CSV and XLSX downloads, and three
charts drawn on the server as inline SVG: passages per hour, per gate, fevers per day over the
last four weeks. The logic: `sync.office.report`, `sync.office.report_charts`, `sync.office.charts`."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from models.errors import KakouError
from sync.office import charts, report_charts
from sync.office import report as office_report
from sync.office.console import auth
from sync.office.console.auth import PageSession
from sync.office.console.pages import SECURITY_HEADERS, render
from sync.office.console.words import W
from sync.office.deps import OfficeDep
from sync.office.users import Session

router = APIRouter(include_in_schema=False)


def _day(value: str | None) -> tuple[dt.date, KakouError | None]:
    from models.report import parse_day

    try:
        return parse_day((value or "")[:20] or None), None
    except KakouError as exc:
        return dt.date.today(), exc


def _report(office: Any, day: dt.date, session: Session) -> dict[str, Any]:
    return report_charts.scoped(office_report.day_report(office.engine, day), session.account)


def _page(office: Any, day: dt.date, session: Session, lang: str) -> dict[str, Any]:
    account = session.account
    report = _report(office, day, session)
    hours = report_charts.passages_by_hour(office.engine, day, account)
    fevers = report_charts.fevers_by_day(office.engine, day, account)
    passages = W["chart_passages"].text(lang)
    return {
        "report": report,
        "header": office_report.header(lang),
        # The headings in two lines on the page (Chinese over English): twenty columns fit 1200 px.
        "heads": [(en, "") if lang == "en" else (zh, en) for _k, zh, en in office_report.COLUMNS],
        "rows": office_report.table_rows(report, lang),
        "places": office_report.places_lines(report, lang),
        "by_hour": Markup(charts.column_chart([(f"{h:02d}", n) for h, n in enumerate(hours)], label=passages, every=2)),
        "by_gate": Markup(charts.row_chart(report_charts.passages_by_gate(report), label=passages)),
        "fevers": Markup(
            charts.column_chart(
                [(d[5:], n) for d, n in fevers], label=W["fevers"].text(lang), every=7, colour="#c53030"
            )
        ),
        "hour_total": sum(hours),
        "fever_total": sum(n for _d, n in fevers),
    }


@router.get("/reports")
async def reports_page(request: Request, office: OfficeDep, session: PageSession, day: str | None = None) -> Response:
    when, error = _day(day)
    data = await run_in_threadpool(_page, office, when, session, auth.lang_of(request))
    return render(request, "reports.html", {**data, "day": when.isoformat(), "error": error})


def _download(body: bytes, name: str, media: str) -> Response:
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media, headers=headers)


@router.get("/reports/day.csv")
async def report_csv(request: Request, office: OfficeDep, session: PageSession, day: str | None = None) -> Response:
    when, error = _day(day)
    if error is not None:
        return render(request, "refused.html", {"key": "bad_form"}, status=400)
    report = await run_in_threadpool(_report, office, when, session)
    # Every cell formula-safe (report.sheet_text); a BOM so that Excel reads the Chinese as UTF-8.
    body = "\ufeff" + office_report.format_csv(report, auth.lang_of(request))
    return _download(body.encode("utf-8"), f"kakou-report-{when.isoformat()}.csv", "text/csv; charset=utf-8")


@router.get("/reports/day.xlsx")
async def report_xlsx(request: Request, office: OfficeDep, session: PageSession, day: str | None = None) -> Response:
    when, error = _day(day)
    if error is not None:
        return render(request, "refused.html", {"key": "bad_form"}, status=400)
    report = await run_in_threadpool(_report, office, when, session)
    buf = io.BytesIO()
    await run_in_threadpool(office_report.write_xlsx, report, buf, auth.lang_of(request))
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _download(buf.getvalue(), f"kakou-report-{when.isoformat()}.xlsx", media)
