"""The street office's day report: one row per checkpoint, totals, and who is silent.

A zero report is a report (a kiosk that was in touch today and recorded nothing reports
zero); silence is not: a checkpoint with no records for the day and no contact since the day
began is called out as not reported. Counts only, never people.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import time
from collections import Counter
from typing import IO, Any

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from models.health_checks import checks_words, count_checks, detail_checks
from models.kinds import FEVER_OUTCOMES, REGISTRATION_KINDS
from models.reasons import reason_label
from models.words import Words
from sync.office import tables as t
from sync.office.inside import out_of_place, rebuild_last_passages
from sync.office.lost import lost_by_kiosk, lost_words
from sync.office.replica import read_words

_PLACES_NONE: dict[str, list[Any]] = {"visitors_inside": [], "registrations_inside": [], "out_past_curfew": []}

# One column per fever outcome of models/kinds.py (a new outcome is a new column).
FEVER_COLUMNS = [f"fever_{code}" for code in FEVER_OUTCOMES]
COLUMNS = [
    ("checkpoint", "卡口", "checkpoint"),
    ("community", "社区", "community"),
    ("in", "进", "in"),
    ("out", "出", "out"),
    ("turned_back", "劝返", "turned back"),
    ("overridden", "主管放行", "overrides"),
    ("fevers", "发热", "fevers"),
    *((f"fever_{code}", o.column.zh, o.column.en) for code, o in FEVER_OUTCOMES.items()),
    # Cases of the day with no outcome yet (an outcome counts on its case's day: ingest.py).
    ("fever_pending", "待复测", "fever: pending"),
    ("registrations", "登记", "registrations"),
    ("denials", "拒绝原因", "denials by reason"),
    ("checks", "查验", "checks seen"),
    ("last_sync", "最后同步", "last sync"),
    ("expected", "待传记录", "records still expected"),
    ("reported", "已报告", "reported"),
]


def _day_start(day: dt.date) -> float:
    return time.mktime(dt.datetime.combine(day, dt.time.min).timetuple())


def day_report(engine: Engine, day: dt.date, *, now: float | None = None, places: bool = True) -> dict[str, Any]:
    """`now`: the moment "still inside" is judged at for today (the clock by default).
    `places=False`: without who is still inside or out past the curfew (empty lists), which reads
    each pass's last passage (a row a pass and gate: sync/office/inside.py); the counts alone are
    a few rows a gate."""
    day_text = day.isoformat()
    start = _day_start(day)
    with engine.execution_options(immediate=False).connect() as conn:
        kiosks = conn.execute(
            select(
                t.kiosk.c.kiosk_id,
                t.kiosk.c.name,
                t.kiosk.c.community,
                t.kiosk.c.status,
                t.kiosk.c.last_push,
                t.kiosk.c.last_seen,
                t.kiosk.c.backlog,
            )
            .where(t.kiosk.c.status != "revoked")
            .order_by(t.kiosk.c.community, t.kiosk.c.name)
        ).all()
        # Counted as the records arrived (sync.office.ingest.count_days, migration 0009): a
        # few rows per checkpoint instead of a GROUP BY over the day's millions.
        groups = conn.execute(
            text(
                "SELECT kiosk_id, kind, direction, verdict, reasons, detail, n FROM office_day_count"
                " WHERE day = :d AND n <> 0"
            ),
            {"d": day_text},
        ).all()
        lost = lost_by_kiosk(conn, start, start + 86400)  # the claims the office received that day
        # Who is still inside after the visiting hours, who is out after the curfew (sync/office/inside.py).
        where = out_of_place(conn, [k.kiosk_id for k in kiosks], day, now) if places else {}
        conn.rollback()
    rows: dict[str, dict[str, Any]] = {}
    for k in kiosks:
        rows[k.kiosk_id] = {
            "kiosk_id": k.kiosk_id,
            "checkpoint": k.name,
            "community": k.community,
            "status": k.status,
            "in": 0,
            "out": 0,
            "turned_back": 0,
            "overridden": 0,
            "fevers": 0,
            **dict.fromkeys(FEVER_COLUMNS, 0),
            "registrations": 0,
            "registrations_by_kind": {kind: 0 for kind in REGISTRATION_KINDS},
            "denials": {},
            "checks": {},
            "records": 0,
            "last_sync": k.last_push,
            "expected": int(k.backlog or 0),
            "reported": bool(k.last_seen and k.last_seen >= start),
            **_PLACES_NONE,
            **where.get(k.kiosk_id, {}),
        }
    denials: dict[str, Counter[str]] = {kid: Counter() for kid in rows}
    seen: dict[str, list[tuple[dict[str, str], int]]] = {kid: [] for kid in rows}
    for kiosk_id, kind, direction, verdict, reasons, detail, n in groups:
        row = rows.get(kiosk_id)
        if row is None:
            continue
        row["records"] += n
        row["reported"] = True
        if kind == "passage":
            if detail:
                seen[kiosk_id].append((detail_checks(detail), n))
            if verdict == "allow" and direction in ("in", "out"):
                row[direction] += n
                if '"overridden"' in (reasons or ""):  # a supervisor's override (models/facts.py)
                    row["overridden"] += n
            else:
                row["turned_back"] += n
                try:
                    codes = json.loads(reasons or "[]") or ["unknown"]
                except ValueError:
                    codes = ["unknown"]
                for code in codes:
                    denials[kiosk_id][str(code)] += n
        elif kind == "fever_case":
            row["fevers"] += n
        elif kind == "fever_outcome" and detail in FEVER_OUTCOMES:
            row[f"fever_{detail}"] += n
        elif kind == "registration":
            row["registrations"] += n
            if detail in row["registrations_by_kind"]:
                row["registrations_by_kind"][detail] += n
    for kid, c in denials.items():
        rows[kid]["denials"] = dict(sorted(c.items()))
        rows[kid]["checks"] = count_checks(seen[kid])
    for row in rows.values():
        row["fever_pending"] = max(0, row["fevers"] - sum(row[c] for c in FEVER_COLUMNS))
    out_rows = list(rows.values())
    totals = totals_of(out_rows)
    silent = [
        {
            "kiosk_id": r["kiosk_id"],
            "checkpoint": r["checkpoint"],
            "community": r["community"],
            "last_sync": r["last_sync"],
        }
        for r in out_rows
        if not r["reported"]
    ]
    return {
        "date": day_text,
        "checkpoints": out_rows,
        "totals": totals,
        "not_reported": silent,
        # Records kiosks said that day they lost (sync/office/lost.py): not a silent gap.
        "lost": [
            {"kiosk_id": kid, "checkpoint": rows[kid]["checkpoint"], "community": rows[kid]["community"], **entry}
            for kid, entry in lost.items()
            if kid in rows
        ],
        "generated_at": time.time(),
    }


def totals_of(out_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The totals row of a report's checkpoint rows (all of them, or one community's)."""
    totals: dict[str, Any] = {
        key: sum(r[key] for r in out_rows)
        for key in (
            "in",
            "out",
            "turned_back",
            "overridden",
            "fevers",
            *FEVER_COLUMNS,
            "fever_pending",
            "registrations",
            "expected",
            "records",
        )
    }
    all_denials: Counter[str] = Counter()
    for r in out_rows:
        all_denials.update(r["denials"])
    totals["denials"] = dict(sorted(all_denials.items()))
    totals["checks"] = count_checks(
        ({check: answer}, n)
        for r in out_rows
        for check, answers in r["checks"].items()
        for answer, n in answers.items()
    )
    return totals


def recount_days(engine: Engine, day: dt.date | None = None) -> int:
    """Rebuild the day counts from the records (one day, or all): after records were changed
    by hand or written around the ingest (a bulk load). Returns the number of records counted.
    Each pass's last passage (who is inside: sync/office/inside.py) is rebuilt too, from every day."""
    where, params = ("WHERE day = :d", {"d": day.isoformat()}) if day else ("", {})
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM office_day_count {where}"), params)
        conn.execute(
            text(
                "INSERT INTO office_day_count (day, kiosk_id, kind, direction, verdict, reasons, detail, n)"
                " SELECT day, kiosk_id, kind, coalesce(direction, ''), coalesce(verdict, ''),"
                f" substr(coalesce(reasons, ''), 1, {t.REASONS_KEY_CHARS}), coalesce(detail, ''), count(*)"
                f" FROM office_record {where} GROUP BY 1, 2, 3, 4, 5, 6, 7"
            ),
            params,
        )
        rebuild_last_passages(conn)
        # scalar_one(): an aggregate always yields one row, and coalesce() keeps it from being NULL.
        return int(conn.execute(text(f"SELECT coalesce(sum(n), 0) FROM office_day_count {where}"), params).scalar_one())


# The report's words (models/words.py). In Chinese the clerk's sheets carry the English too;
# the title and the not-reported lines are written in both whatever the language.
def _both(text: str) -> Words:
    return Words(text, text)


_W = {
    "title": _both("街道日报 street office day report {date}"),
    "yes": Words("是", "yes"),
    "no": Words("否", "NO"),
    "total": Words("合计 total", "total"),
    "total_cell": Words("合计", "total"),
    "not_reported": Words("未报告 NOT REPORTED ({n}):", "NOT REPORTED ({n}):"),
    "silent_row": _both("  {community} {checkpoint}  最后同步 last sync: {last}"),
    "all_reported": _both("全部卡口已报告 / every checkpoint reported"),
    "no_checkpoints": _both(
        "街道办还没有卡口 / the office has no checkpoints yet: kakou office add-checkpoint NAME --community COMMUNITY"
    ),
    "silent_sheet": _both("未报告 not reported"),
    "silent_head": _both("卡口 checkpoint|社区 community|最后同步 last sync"),
    "semicolon": Words("；", "; "),
    "lost_sheet": _both("丢失记录 lost records"),
    "visitors_inside": Words(
        "{community} {checkpoint}：访客超时未离开：{units}",
        "{community} {checkpoint}: visitors still inside after visiting hours: {units}",
    ),
    "registrations_inside": Words(
        "{community} {checkpoint}：登记人员超时未离开 {count} 人：{items}",
        "{community} {checkpoint}: registered people still inside after visiting hours ({count}): {items}",
    ),
    "out_past_curfew": Words(
        "{community} {checkpoint}：宵禁后仍有人在外的住户：{units}",
        "{community} {checkpoint}: households with someone out after curfew: {units}",
    ),
    "lost_head": _both("卡口 checkpoint|社区 community|丢失 lost|说明 detail"),
}


NO_CHECKPOINTS = _W["no_checkpoints"]  # the status says it too


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _cell(row: dict[str, Any], key: str, lang: str) -> str:
    value = row.get(key)
    if key == "last_sync":
        return _fmt_time(value)
    if key == "denials":
        # Labelled from the one table of reasons, in the report's language (codes stay in the JSON).
        return _W["semicolon"].text(lang).join(f"{reason_label(k, lang)} {v}" for k, v in (value or {}).items()) or "-"
    if key == "checks":
        return checks_words(value or {}, lang) or "-"
    if key == "reported":
        return _W["yes" if value else "no"].text(lang)
    return "" if value is None else str(value)


def header(lang: str) -> list[str]:
    return [en if lang == "en" else f"{zh} {en}" for _k, zh, en in COLUMNS]


def table_rows(report: dict[str, Any], lang: str) -> list[list[str]]:
    rows = [[_cell(r, k, lang) for k, _zh, _en in COLUMNS] for r in report["checkpoints"]]
    totals = dict(
        report["totals"],
        checkpoint=_W["total"].text(lang),
        community="",
        last_sync=None,
        reported=None,
    )
    total_row = [_cell(totals, k, lang) for k, _zh, _en in COLUMNS]
    total_row[-1] = ""
    return [*rows, total_row]


def format_table(report: dict[str, Any], lang: str = "zh") -> str:
    head = [en if lang == "en" else zh for _k, zh, en in COLUMNS]
    body = table_rows(report, lang)

    # CJK characters take two cells in a terminal.
    def width(s: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)

    widths = [max(width(r[i]) for r in [head, *body]) for i in range(len(head))]

    def pad(s: str, w: int) -> str:
        return s + " " * (w - width(s))

    lines = [_W["title"].text(lang).format(date=report["date"])]
    replica = read_words(report.get("read_from"))  # read from a replica: how far behind, or why not
    if replica is not None:
        lines.append(replica.text(lang))
    lines.append("  ".join(pad(h, w) for h, w in zip(head, widths, strict=False)))
    lines += ["  ".join(pad(c, w) for c, w in zip(r, widths, strict=False)) for r in body]
    silent = report["not_reported"]
    if not report["checkpoints"]:  # nobody to report is not "every checkpoint reported"
        lines.append("")
        lines.append(NO_CHECKPOINTS.text(lang))
    elif silent:
        lines.append("")
        lines.append(_W["not_reported"].text(lang).format(n=len(silent)))
        for s in silent:
            lines.append(
                _W["silent_row"]
                .text(lang)
                .format(community=s["community"], checkpoint=s["checkpoint"], last=_fmt_time(s["last_sync"]))
            )
    else:
        lines.append("")
        lines.append(_W["all_reported"].text(lang))
    for entry in report.get("lost", []):
        words = lost_words(entry)
        if words is not None:
            lines.append(f"{entry['community']} {entry['checkpoint']}: {words.text(lang)}")
    lines += places_lines(report, lang)
    return "\n".join(lines)


def places_lines(report: dict[str, Any], lang: str = "zh") -> list[str]:
    """Per checkpoint: visitors and registered people still inside after the visiting hours,
    households with someone out after the curfew (sync/office/inside.py)."""
    from models.report import registrations_words

    comma = "，" if lang != "en" else ", "
    lines = []
    for r in report["checkpoints"]:
        where = {"community": r["community"], "checkpoint": r["checkpoint"]}
        if r.get("visitors_inside"):
            lines.append(_W["visitors_inside"].text(lang).format(**where, units=comma.join(r["visitors_inside"])))
        if r.get("registrations_inside"):
            items = registrations_words(r["registrations_inside"], lang)
            count = len(r["registrations_inside"])
            lines.append(_W["registrations_inside"].text(lang).format(**where, count=count, items=items))
        if r.get("out_past_curfew"):
            lines.append(_W["out_past_curfew"].text(lang).format(**where, units=comma.join(r["out_past_curfew"])))
    return lines


# A spreadsheet reads a cell that starts with one of these as a formula (or, for tab and CR, strips
# them and reads what follows). Text a kiosk sent (an unknown reason code is shown as it came) must
# never become a live formula in the clerk's sheet: =HYPERLINK(...) would leak or mislead.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: str) -> bool:
    # A lone "-" is the report's "nothing" mark, and no spreadsheet reads it as a formula.
    return value.startswith(_FORMULA_START) and value != "-"


def sheet_text(value: str) -> str:
    """A CSV cell that every spreadsheet shows as the text it is: a leading apostrophe (the
    convention Excel and LibreOffice hide) before anything that would start a formula."""
    return "'" + value if looks_like_formula(value) else value


def format_csv(report: dict[str, Any], lang: str = "zh") -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([sheet_text(h) for h in header(lang)])
    for r in table_rows(report, lang):
        w.writerow([sheet_text(c) for c in r])
    return buf.getvalue()


def _cells_as_text(sheet: Any) -> None:
    """XLSX keeps the text exactly: a string cell (never a formula) with Excel's quote prefix,
    so editing the cell does not turn it into one either."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and looks_like_formula(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True


def write_xlsx(report: dict[str, Any], path: str | os.PathLike[str] | IO[bytes], lang: str = "zh") -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    # The stubs allow None (a workbook whose sheets were all removed); a new Workbook always has one.
    assert ws is not None
    ws.title = report["date"]
    ws.append(header(lang))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    numeric = {
        k
        for k, _zh, _en in COLUMNS
        if k not in ("checkpoint", "community", "denials", "checks", "last_sync", "reported")
    }
    red = PatternFill("solid", fgColor="FFC7CE")
    for r in report["checkpoints"]:
        values = [r[k] if k in numeric else _cell(r, k, lang) for k, _zh, _en in COLUMNS]
        ws.append(values)
        if not r["reported"]:
            for cell in ws[ws.max_row]:
                cell.fill = red
    totals = report["totals"]
    ws.append(
        [_W["total_cell"].text(lang), ""]
        + [
            totals.get(k) if k in numeric else (_cell(totals, k, lang) if k in ("denials", "checks") else "")
            for k, _zh, _en in COLUMNS[2:]
        ]
    )
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    silent = wb.create_sheet(_W["silent_sheet"].text(lang))
    silent.append(_W["silent_head"].text(lang).split("|"))
    for s in report["not_reported"]:
        silent.append([s["checkpoint"], s["community"], _fmt_time(s["last_sync"])])
    if report.get("lost"):
        lost_sheet = wb.create_sheet(_W["lost_sheet"].text(lang))
        lost_sheet.append(_W["lost_head"].text(lang).split("|"))
        for entry in report["lost"]:
            words = lost_words(entry)
            lost_sheet.append(
                [entry["checkpoint"], entry["community"], entry["lost"], words.text(lang) if words else ""]
            )
    for sheet in wb.worksheets:
        _cells_as_text(sheet)
    wb.save(path)
