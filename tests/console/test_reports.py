"""The Reports page: the day report (scoped to the account's community), its CSV and XLSX, and
charts drawn on the server as SVG whose bars match the counts."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from sync.office import charts, report_charts
from sync.office import tables as t
from sync.office.report import recount_days
from sync.office.users import Account
from tests.console.helpers import logged_in

DAY = dt.date(2026, 3, 10)
STREET = Account("张敏", "street")
HOME = Account("李社区", "community", "幸福里社区")
SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[tuple[str, int, float, float]]:
    root = ET.fromstring(svg)
    return [
        (r.get("data-label"), int(r.get("data-value")), float(r.get("height")), float(r.get("width")))
        for r in root.iter(SVG + "rect")
        if r.get("class") == "bar"
    ]


def test_a_column_chart_draws_each_count_as_a_bar_of_its_height():
    svg = charts.column_chart([("00", 0), ("01", 2), ("02", 4), ("03", 1)], label="通行", height=220, every=2)
    bars = _bars(svg)
    plot = 220 - 18 - 22
    assert [(name, n) for name, n, _h, _w in bars] == [("00", 0), ("01", 2), ("02", 4), ("03", 1)]
    assert [h for _n, _v, h, _w in bars] == [0, plot / 2, plot, plot / 4]
    texts = [e.text for e in ET.fromstring(svg).iter(SVG + "text")]
    assert texts == ["00", "2", "4", "02", "1"]  # counts on the bars that have one, every 2nd label
    # nothing counted: a flat bar, not a division by zero
    assert [h for _n, _v, h, _w in _bars(charts.column_chart([("a", 0)], label="x"))] == [0]


def test_a_row_chart_escapes_labels_and_scales_widths():
    svg = charts.row_chart([('东门<script>"', 3), ("北门", 6)], label="<b>", width=720)
    bars = _bars(svg)  # parses: every label was escaped
    plot = 720 - 180 - 48
    assert [(name, n, w) for name, n, _h, w in bars] == [('东门<script>"', 3, plot / 2), ("北门", 6, plot)]
    assert "<script>" not in svg and 'aria-label="&lt;b&gt;"' in svg


def _add(engine, kiosk_id: str, kind: str, at: float, day: dt.date, n: int = 1, **cols) -> None:
    with engine.begin() as conn:
        seq = conn.execute(select(t.record.c.seq).order_by(t.record.c.seq.desc()).limit(1)).scalar() or 0
        for i in range(n):
            rid = f"{kiosk_id[:8]}-{seq + i + 1:06d}-{kind[:6]}"
            conn.execute(
                t.record.insert().values(
                    record_id=rid,
                    kiosk_id=kiosk_id,
                    epoch=1,
                    seq=seq + i + 1,
                    kind=kind,
                    payload=json.dumps({"direction": cols.get("direction")}),
                    payload_hash="0" * 64,
                    device_time=at,
                    corrected_time=at,
                    received_at=at,
                    time_quality="anchored",
                    day=day.isoformat(),
                    hlc=seq + i + 1,
                    boot_id="b",
                    mono_ns=0,
                    **cols,
                )
            )


@pytest.fixture
def known_day(console_office):
    """东门卡口 (幸福里社区): 1 passage at 00h, 3 at 08h (and one turned back), 2 at 23h, 2 fevers
    that day and 1 three days before; 北门卡口 (北苑社区): 1 passage at 08h, 1 fever that day, 5
    fevers 30 days before (outside the four weeks)."""
    engine = console_office.engine
    with engine.connect() as conn:
        gates = dict(conn.execute(select(t.kiosk.c.name, t.kiosk.c.kiosk_id)).all())
    east, north = gates["东门卡口"], gates["北门卡口"]
    start = time.mktime(dt.datetime.combine(DAY, dt.time.min).timetuple())
    allow = {"verdict": "allow", "reasons": "[]"}
    _add(engine, east, "passage", start + 60, DAY, direction="out", **allow)
    _add(engine, east, "passage", start + 8 * 3600 + 5, DAY, 2, direction="in", **allow)
    _add(engine, east, "passage", start + 8 * 3600 + 3599, DAY, direction="out", **allow)
    _add(
        engine,
        east,
        "passage",
        start + 8 * 3600 + 10,
        DAY,
        direction="out",
        verdict="deny",
        reasons='["=HYPERLINK(1)"]',
    )
    _add(engine, east, "passage", start + 23 * 3600 + 1, DAY, 2, direction="in", **allow)
    _add(engine, north, "passage", start + 8 * 3600 + 30, DAY, direction="in", **allow)
    _add(engine, east, "fever_case", start + 9 * 3600, DAY, 2, direction="in")
    _add(engine, east, "fever_case", start - 3 * 86400 + 9 * 3600, DAY - dt.timedelta(days=3), direction="in")
    _add(engine, north, "fever_case", start + 9 * 3600, DAY, direction="in")
    _add(engine, north, "fever_case", start - 30 * 86400, DAY - dt.timedelta(days=30), 5, direction="in")
    recount_days(engine)
    return console_office


def test_the_figures_count_the_days_passages_and_fevers_for_the_accounts_gates(known_day):
    engine = known_day.engine
    hours = report_charts.passages_by_hour(engine, DAY, STREET)
    assert len(hours) == 24 and (hours[0], hours[8], hours[23], sum(hours)) == (1, 4, 2, 7)
    assert report_charts.passages_by_hour(engine, DAY, HOME)[8] == 3
    fevers = report_charts.fevers_by_day(engine, DAY, STREET)
    assert len(fevers) == 28 and fevers[0][0] == (DAY - dt.timedelta(days=27)).isoformat()
    assert dict(fevers)[DAY.isoformat()] == 3 and dict(fevers)["2026-03-07"] == 1 and sum(n for _d, n in fevers) == 4
    assert sum(n for _d, n in report_charts.fevers_by_day(engine, DAY, HOME)) == 3
    from sync.office.report import day_report

    full = day_report(engine, DAY)
    assert report_charts.passages_by_gate(full) == [("北苑社区 北门卡口", 1), ("幸福里社区 东门卡口", 6)]
    mine = report_charts.scoped(full, HOME)
    assert report_charts.passages_by_gate(mine) == [("幸福里社区 东门卡口", 6)]
    assert mine["totals"]["in"] == 4 and full["totals"]["in"] == 5


def test_the_reports_page_draws_the_charts_and_a_community_sees_its_own(known_day):
    c, _csrf = logged_in(known_day.app, "张敏")
    page = c.get("/reports", params={"day": DAY.isoformat()})
    assert page.status_code == 200 and "style=" not in page.text  # the CSP allows no inline style
    assert 'data-label="08" data-value="4"' in page.text
    assert 'data-label="北苑社区 北门卡口" data-value="1"' in page.text
    assert 'data-label="03-10" data-value="3"' in page.text
    assert 'href="/reports/day.csv?day=2026-03-10"' in page.text
    home, _csrf = logged_in(known_day.app, "李社区")
    mine = home.get("/reports", params={"day": DAY.isoformat()}).text
    assert "北门卡口" not in mine and 'data-label="08" data-value="3"' in mine
    bad = c.get("/reports", params={"day": "someday"})
    assert bad.status_code == 200 and "YYYY-MM-DD" in bad.text  # today's report, and why
    assert c.get("/reports/day.csv", params={"day": "someday"}).status_code == 400


def test_the_downloads_are_the_scoped_day_report_formula_safe(known_day):
    from openpyxl import load_workbook

    home, _csrf = logged_in(known_day.app, "李社区")
    csv = home.get("/reports/day.csv", params={"day": DAY.isoformat()})
    assert csv.status_code == 200 and "attachment" in csv.headers["Content-Disposition"]
    text = csv.content.decode("utf-8-sig")
    assert "东门卡口" in text and "北门卡口" not in text
    assert "'=HYPERLINK(1) 1" in text  # a kiosk's reason code never becomes a live formula
    xlsx = home.get("/reports/day.xlsx", params={"day": DAY.isoformat()})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert [r[0].value for r in sheet.iter_rows(min_row=2)] == ["东门卡口", "合计"]
    viewer, _csrf = logged_in(known_day.app, "王看")  # a viewer reads the reports too
    assert "北门卡口" in viewer.get("/reports/day.csv", params={"day": DAY.isoformat()}).content.decode("utf-8-sig")
