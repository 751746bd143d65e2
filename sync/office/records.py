"""The office's records, one table per kind, for the console's Records pages and their export.

Four tables: passages, registrations, fever cases (each with its outcome, or pending), passes
issued and revoked. Filters are read from the page's query string (`parse_filters`: a value that
is not a day, a gate this account may not see, a from after its to are words, never a 500) and
applied in SQL; a page is the next `PAGE` rows newest first after a keyset cursor
(corrected_time, record_id), never an OFFSET, so the thousandth page costs what the first does
(the indexes of migration 0024).

What a row shows is whitelisted per table (`COLUMNS`): masked numbers as the kiosk stored them,
never a hash or a sealed copy; codes as labels (reasons, kinds, outcomes, directions, verdicts).
A `community` account sees its community's gates' records only, here, in SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, not_, select, tuple_
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from models.errors import KakouError
from models.health_checks import answer_label, check_label
from models.kinds import FEVER_OUTCOMES, REGISTRATION_KINDS, PassKind, registration_label
from models.reasons import reason_label
from models.words import Words
from sync.office import tables as t
from sync.office.users import Account

PAGE = 50
# An export holds at most this many rows; more are refused with words (narrow the filters).
EXPORT_CAP = 100_000
DEFAULT_DAYS = 7  # the page opens on the last week
MAX_TEXT = 40
# Days outside these years are no records' days (and year 1 or 9999 is past what the clock converts).
FIRST_YEAR, LAST_YEAR = 2000, 2200  # a filter value longer than this is no unit, reason or gate

# Which record kinds each table lists.
TABLES: dict[str, tuple[str, ...]] = {
    "passages": ("passage",),
    "registrations": ("registration",),
    "fevers": ("fever_case",),
    "passes": ("pass_issued", "pass_revoked"),
}

TABLE_WORDS: dict[str, Words] = {
    "passages": Words("通行记录", "Passages"),
    "registrations": Words("登记记录", "Registrations"),
    "fevers": Words("发热记录", "Fever cases"),
    "passes": Words("通行证签发与作废", "Passes issued and revoked"),
}

DIRECTIONS: dict[str, Words] = {"in": Words("进", "in"), "out": Words("出", "out")}
VERDICTS: dict[str, Words] = {
    "allow": Words("通行", "allow"),
    "deny": Words("禁止", "deny"),
    "refer": Words("核查", "check"),
}
PENDING = Words("待复测", "pending")
PASS_ACTIONS: dict[str, Words] = {"pass_issued": Words("签发", "issued"), "pass_revoked": Words("作废", "revoked")}

# Per table: the filters it takes (beyond day range and gate) and its `kind` choices.
FILTERS: dict[str, tuple[str, ...]] = {
    "passages": ("direction", "verdict", "reason", "pass_kind", "unit"),
    "registrations": ("kind", "unit"),
    "fevers": ("direction", "kind", "unit"),
    "passes": ("kind", "unit"),
}


def kind_choices(table: str) -> dict[str, Words]:
    if table == "registrations":
        return {code: info.name for code, info in REGISTRATION_KINDS.items()}
    if table == "fevers":
        return {**{code: o.name for code, o in FEVER_OUTCOMES.items()}, "pending": PENDING}
    if table == "passes":
        return {"issued": PASS_ACTIONS["pass_issued"], "revoked": PASS_ACTIONS["pass_revoked"]}
    return {}


def pass_kind_choices() -> dict[str, Words]:
    """The pass-kind filter's choices: each kind's code (the query string's word) and its name."""
    return {k.code: k.info.name for k in PassKind}


# The columns of each table: key, heading, width in an XLSX sheet (characters).
Column = tuple[str, Words, int]
_TIME: Column = ("time", Words("时间", "Time"), 20)
_GATE: Column = ("gate", Words("卡口", "Gate"), 16)
_DIRECTION: Column = ("direction", Words("进出", "In/out"), 7)
_UNIT: Column = ("unit", Words("单元", "Unit"), 12)
COLUMNS: dict[str, list[Column]] = {
    "passages": [
        _TIME,
        _GATE,
        _DIRECTION,
        ("verdict", Words("结果", "Verdict"), 8),
        ("reasons", Words("原因", "Reasons"), 30),
        _UNIT,
        ("pass_kind", Words("通行证类别", "Pass kind"), 14),
        ("temperature", Words("体温", "Temperature"), 9),
        ("checks", Words("查验", "Checks"), 22),
    ],
    "registrations": [
        _TIME,
        _GATE,
        ("kind", Words("类别", "Kind"), 12),
        ("name", Words("姓名", "Name"), 12),
        ("id_masked", Words("身份证号（部分）", "ID number (masked)"), 22),
        ("phone_masked", Words("手机号（部分）", "Phone (masked)"), 16),
        ("from_place", Words("从哪里来", "From"), 18),
        _UNIT,
        ("reason", Words("事由", "Why"), 20),
        ("temperature", Words("体温", "Temperature"), 9),
    ],
    "fevers": [
        _TIME,
        _GATE,
        _DIRECTION,
        _UNIT,
        ("first", Words("初测", "First reading"), 10),
        ("outcome", Words("处理结果", "Outcome"), 18),
        ("second", Words("复测", "Recheck"), 10),
        ("outcome_time", Words("复测时间", "Rechecked at"), 20),
    ],
    "passes": [
        _TIME,
        _GATE,
        ("action", Words("操作", "Action"), 8),
        ("pass_id", Words("通行证编号", "Pass id"), 34),
        ("pass_kind", Words("通行证类别", "Pass kind"), 14),
        _UNIT,
        ("name", Words("姓名", "Name"), 12),
        ("valid", Words("有效期", "Valid"), 24),
        ("reason", Words("作废原因", "Revoked because"), 20),
    ],
}


def _error(zh: str, en: str, code: str) -> KakouError:
    return KakouError(zh, en, code=code)


FILTER_KEYS = ("gate", "direction", "verdict", "reason", "pass_kind", "kind", "unit")


@dataclass(frozen=True)
class Filters:
    table: str
    day_from: dt.date
    day_to: dt.date
    gate: str | None = None  # a kiosk id
    direction: str | None = None
    verdict: str | None = None
    reason: str | None = None
    kind: str | None = None
    unit: str | None = None
    pass_kind: str | None = None  # a PassKind code (pass_kind_choices)

    def query(self) -> dict[str, str]:
        """The query string that gives these filters back (a bookmark, the export's link)."""
        out = {"from": self.day_from.isoformat(), "to": self.day_to.isoformat()}
        for key in FILTER_KEYS:
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's corrected time and record id (rows go newest first)."""

    at: float
    record_id: str

    def text(self) -> str:
        return f"{self.at!r}_{self.record_id}"


_CURSOR = re.compile(r"^(-?[0-9.eE+-]{1,32})_([0-9a-fA-F-]{1,36})$")
_CODE = re.compile(r"^[a-z0-9_]{1,40}$")


def parse_cursor(value: str | None) -> Cursor | None:
    if not value:
        return None
    m = _CURSOR.match(value.strip())
    if m:
        try:
            at = float(m.group(1))
        except ValueError:
            at = float("nan")
        if at == at and abs(at) != float("inf"):
            return Cursor(at, m.group(2))
    raise _error(
        "翻页位置无效，请回到第一页。", "That page position is not valid: go back to the first page.", "cursor"
    )


def gates_seen(conn: Connection, account: Account) -> dict[str, tuple[str, str]]:
    """The gates (kiosk id -> (name, community)) whose records this account may read."""
    q = select(t.kiosk.c.kiosk_id, t.kiosk.c.name, t.kiosk.c.community).order_by(t.kiosk.c.community, t.kiosk.c.name)
    if account.role == "community":
        q = q.where(t.kiosk.c.community == (account.community or ""))
    return {r.kiosk_id: (r.name, r.community) for r in conn.execute(q)}


def _one(params: Mapping[str, str], key: str) -> str:
    return (params.get(key) or "").strip()


def parse_filters(
    table: str, params: Mapping[str, str], gates: Mapping[str, Any], *, today: dt.date | None = None
) -> tuple[Filters, list[KakouError]]:
    """The filters of the query string, and the words for each value that cannot be used. With
    any error the caller shows the words and no rows (never rows that are not what was asked)."""
    today = today or dt.date.today()
    errors: list[KakouError] = []

    def day(key: str, default: dt.date) -> dt.date:
        raw = _one(params, key)
        if not raw:
            return default
        try:
            value = dt.date.fromisoformat(raw[:MAX_TEXT])
        except ValueError:
            value = None
        if value is not None and FIRST_YEAR <= value.year <= LAST_YEAR:
            return value
        if value is None:
            errors.append(
                _error(
                    f"日期应为 YYYY-MM-DD（例如 2026-03-15），这个不是日期：{raw[:MAX_TEXT]}",
                    f"A day is YYYY-MM-DD (e.g. 2026-03-15); this is not one: {raw[:MAX_TEXT]}",
                    "day",
                )
            )
        else:
            errors.append(
                _error(
                    f"日期应在 {FIRST_YEAR} 年到 {LAST_YEAR} 年之间：{raw[:MAX_TEXT]}",
                    f"A day must be between the years {FIRST_YEAR} and {LAST_YEAR}: {raw[:MAX_TEXT]}",
                    "day",
                )
            )
        return default

    day_to = day("to", today)
    day_from = day("from", day_to - dt.timedelta(days=DEFAULT_DAYS - 1))
    if day_from > day_to:
        errors.append(
            _error(
                f"开始日期 {day_from} 在结束日期 {day_to} 之后。",
                f"The first day {day_from} is after the last day {day_to}.",
                "day_range",
            )
        )
    values: dict[str, str | None] = {}
    allowed = FILTERS[table]
    for key in FILTER_KEYS:
        raw = _one(params, key)
        if not raw:
            values[key] = None
            continue
        if key != "gate" and key not in allowed:
            values[key] = None  # a filter this table has no column for: ignored, as the form never sends it
            continue
        values[key] = raw[:MAX_TEXT]
        bad = None
        if len(raw) > MAX_TEXT:
            bad = ("太长", "too long")
        elif key == "gate" and raw not in gates:
            # Another community's gate is not even named: the same words as a gate that does not exist.
            bad = ("没有这个卡口", "no such gate")
        elif key == "direction" and raw not in DIRECTIONS:
            bad = ("应为 进 或 出", "must be in or out")
        elif key == "verdict" and raw not in VERDICTS:
            bad = ("不是一种结果", "not a verdict")
        elif key == "reason" and not _CODE.match(raw):
            bad = ("不是原因代码", "not a reason code")
        elif key == "kind" and raw not in kind_choices(table):
            bad = ("不是这张表的类别", "not a kind of this table")
        elif key == "pass_kind" and raw not in pass_kind_choices():
            bad = ("不是一种通行证", "not a kind of pass")
        if bad is not None:
            errors.append(_error(f"筛选条件 {key}：{bad[0]}。", f"Filter {key}: {bad[1]}.", "filter"))
            values[key] = None
    return Filters(table, day_from, day_to, **values), errors


def _day_start(day: dt.date) -> float:
    return time.mktime(dt.datetime.combine(day, dt.time.min).timetuple())


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(
    f: Filters, gates: Mapping[str, Any], account: Account, after: Cursor | None = None
) -> list[ColumnElement[bool]]:
    r = t.record.c
    kinds = TABLES[f.table]
    if f.table == "passes" and f.kind:
        kinds = ("pass_" + f.kind,)
    # The day of a listed record is the local date of its corrected time (ingest), so the range is
    # a range of the paging index's own column.
    end = _day_start(f.day_to + dt.timedelta(days=1))
    where: list[ColumnElement[bool]] = [
        r.kind.in_(kinds) if len(kinds) > 1 else r.kind == kinds[0],
        r.corrected_time >= _day_start(f.day_from),
    ]
    if after is not None and after.at < end:
        # The cursor's time as the range's upper end too: SQLite's planner bounds an index range
        # by plain comparisons only, and with the day's end instead it would read every row of
        # the pages before this one (PostgreSQL uses the row comparison itself).
        where.append(r.corrected_time <= after.at)
    else:
        where.append(r.corrected_time < end)
    if after is not None:
        where.append(tuple_(r.corrected_time, r.record_id) < tuple_(after.at, after.record_id))
    if f.gate:
        where.append(r.kiosk_id == f.gate)
    elif account.role == "community":
        where.append(r.kiosk_id.in_(sorted(gates)))  # an empty list matches nothing: a community without gates
    if f.direction:
        where.append(r.direction == f.direction)
    if f.verdict:
        where.append(r.verdict == f.verdict)
    if f.reason:
        where.append(r.reasons.like(f'%"{_like(f.reason)}"%', escape="\\"))
    if f.unit:
        where.append(r.unit == f.unit)
    if f.pass_kind:
        # The column of the partial index on pass_kind (migration 0027): a page of one kind is a
        # short range of it, however rare the kind.
        where.append(r.pass_kind == int(PassKind[f.pass_kind.upper()]))
    if f.kind and f.table == "registrations":
        where.append(r.detail == f.kind)
    if f.kind and f.table == "fevers":
        o = t.record.alias("o")
        of_case = (o.c.kind == "fever_outcome", o.c.ref == r.record_id, o.c.kiosk_id == r.kiosk_id)
        if f.kind == "pending":
            where.append(not_(exists().where(*of_case)))
        else:
            where.append(exists().where(*of_case, o.c.detail == f.kind))
    return where


_ROW_COLUMNS = (
    t.record.c.record_id,
    t.record.c.kiosk_id,
    t.record.c.kind,
    t.record.c.corrected_time,
    t.record.c.direction,
    t.record.c.verdict,
    t.record.c.reasons,
    t.record.c.detail,
    t.record.c.ref,
    t.record.c.unit,
    t.record.c.pass_kind,
    t.record.c.payload,
    t.record.c.flags,
)


def fetch(
    conn: Connection,
    f: Filters,
    account: Account,
    gates: Mapping[str, Any],
    *,
    after: Cursor | None = None,
    limit: int = PAGE,
) -> list[dict[str, Any]]:
    """Up to `limit` records of the filtered table, newest first, after `after`."""
    r = t.record.c
    q = select(*_ROW_COLUMNS).where(*_where(f, gates, account, after))
    q = q.order_by(r.corrected_time.desc(), r.record_id.desc()).limit(limit)
    rows = [dict(row._mapping) for row in conn.execute(q)]
    if f.table == "fevers" and rows:
        _outcomes(conn, rows)
    return rows


def _outcomes(conn: Connection, cases: list[dict[str, Any]]) -> None:
    """Each case's outcome record (the last one, if a kiosk sent two), or None: pending."""
    o = t.record.c
    ids = [c["record_id"] for c in cases]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    q = (
        select(o.kiosk_id, o.ref, o.detail, o.corrected_time, o.payload)
        .where(o.kind == "fever_outcome", o.ref.in_(ids))
        .order_by(o.corrected_time)
    )
    for row in conn.execute(q):
        found[(row.kiosk_id, row.ref)] = dict(row._mapping)
    for c in cases:
        c["outcome"] = found.get((c["kiosk_id"], c["record_id"]))


@dataclass(frozen=True)
class Page:
    filters: Filters
    rows: list[dict[str, Any]]
    next: Cursor | None  # None: this is the last page


def page(engine: Engine, f: Filters, account: Account, gates: Mapping[str, Any], after: Cursor | None = None) -> Page:
    with engine.execution_options(immediate=False).connect() as conn:
        rows = fetch(conn, f, account, gates, after=after, limit=PAGE + 1)
        conn.rollback()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    last = rows[-1] if more else None
    return Page(f, rows, Cursor(last["corrected_time"], last["record_id"]) if last else None)


class TooMany(KakouError):
    """More records match than an export holds (EXPORT_CAP): the words say the cap."""


def export_rows(
    engine: Engine,
    f: Filters,
    account: Account,
    gates: Mapping[str, Any],
    *,
    cap: int | None = None,
    chunk: int = 2000,
) -> list[dict[str, Any]]:
    """Every filtered record, newest first, read a keyset chunk at a time; more than `cap`
    (EXPORT_CAP) is refused with words (TooMany) before anything is written."""
    cap = EXPORT_CAP if cap is None else cap
    out: list[dict[str, Any]] = []
    after: Cursor | None = None
    with engine.execution_options(immediate=False).connect() as conn:
        while True:
            rows = fetch(conn, f, account, gates, after=after, limit=min(chunk, cap + 1 - len(out)))
            out += rows
            if len(out) > cap:
                conn.rollback()
                raise TooMany(
                    f"筛选出的记录超过 {cap:,} 条，导出最多 {cap:,} 条：请缩短日期范围或加筛选条件。",
                    f"More than {cap:,} records match; an export holds at most {cap:,}: narrow the days or filters.",
                    code="export_cap",
                )
            if len(rows) < chunk:
                break
            after = Cursor(rows[-1]["corrected_time"], rows[-1]["record_id"])
        conn.rollback()
    return out


# -- what a row shows ---------------------------------------------------------------------------


def _payload(row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        p = json.loads(row["payload"])
    except (ValueError, TypeError, RecursionError):
        return {}
    return p if isinstance(p, dict) else {}


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _stamp(ts: float | None) -> str:
    if ts is None:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    except (OverflowError, ValueError, OSError):
        return ""


def _temp(p: Mapping[str, Any], raw: str, value: str) -> str:
    v = p.get(value)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:.1f}"
    return _s(p.get(raw))


def _pass_kind(value: Any, lang: str) -> str:
    try:
        return PassKind(int(value)).label(lang)
    except (ValueError, TypeError):
        return _s(value)


def _reasons(text: str | None, lang: str) -> str:
    try:
        codes = json.loads(text or "[]")
    except ValueError:
        return _s(text)
    if not isinstance(codes, list):
        return _s(text)
    return ("；" if lang != "en" else "; ").join(reason_label(str(c), lang) for c in codes)


def _checks(p: Mapping[str, Any], lang: str) -> str:
    raw = p.get("checks")
    try:
        answers = json.loads(raw) if isinstance(raw, str) and raw else raw
    except ValueError:
        return ""
    if not isinstance(answers, dict):
        return ""
    sep = "，" if lang != "en" else ", "
    return sep.join(f"{check_label(str(c), lang)} {answer_label(str(c), str(a), lang)}" for c, a in answers.items())


def _label(table: Mapping[str, Words], code: Any, lang: str) -> str:
    words = table.get(_s(code))
    return words.text(lang) if words is not None else _s(code)


def cells(table: str, row: Mapping[str, Any], gates: Mapping[str, Any], lang: str = "zh") -> dict[str, str]:
    """The row's cells by column key, in words: only the fields of COLUMNS, never a hash or a
    sealed copy (a registration's payload holds both)."""
    p = _payload(row)
    gate = gates.get(row["kiosk_id"])
    out = {
        "time": _stamp(row["corrected_time"]),
        "gate": gate[0] if gate else _s(row["kiosk_id"]),
        "direction": _label(DIRECTIONS, row.get("direction") or p.get("direction"), lang),
        "unit": _s(row.get("unit") or p.get("unit_code") or p.get("to_unit")),
    }
    if table == "passages":
        out |= {
            "verdict": _label(VERDICTS, row["verdict"], lang),
            "reasons": _reasons(row["reasons"], lang),
            "pass_kind": _pass_kind(row["pass_kind"], lang) if row.get("pass_kind") is not None else "",
            "temperature": _temp(p, "temp_raw", "temp_value"),
            "checks": _checks(p, lang),
        }
    elif table == "registrations":
        out |= {
            "kind": registration_label(_s(row["detail"] or p.get("kind")), lang),
            "name": _s(p.get("name")),
            "id_masked": _s(p.get("id_masked")),
            "phone_masked": _s(p.get("phone_masked")),
            "from_place": _s(p.get("from_place")),
            "reason": _s(p.get("reason")),
            "temperature": _temp(p, "temp_raw", "temp_value"),
        }
    elif table == "fevers":
        o = row.get("outcome")
        op = _payload(o) if o else {}
        outcome = FEVER_OUTCOMES.get(_s(o["detail"])) if o else None
        out |= {
            "first": _temp(p, "first_raw", "first_value"),
            "outcome": (outcome.name.text(lang) if outcome else _s(o["detail"])) if o else PENDING.text(lang),
            "second": _temp(op, "second_raw", "second_value") if o else "",
            "outcome_time": _stamp(o["corrected_time"]) if o else "",
        }
    elif table == "passes":
        valid = ""
        if p.get("valid_from") is not None or p.get("valid_to") is not None:
            valid = f"{_stamp(_num(p.get('valid_from')))[:10]} ~ {_stamp(_num(p.get('valid_to')))[:10]}"
        out |= {
            "action": _label(PASS_ACTIONS, row["kind"], lang),
            "pass_id": _s(row.get("ref") or p.get("pass_id")),
            "pass_kind": _pass_kind(p["kind"], lang) if p.get("kind") is not None else "",
            "name": _s(p.get("name")),
            "valid": valid,
            "reason": _s(p.get("reason")) if row["kind"] == "pass_revoked" else "",
        }
    return {key: out.get(key, "") for key, _w, _width in COLUMNS[table]}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def header(table: str, lang: str = "zh") -> list[str]:
    return [w.text(lang) for _k, w, _width in COLUMNS[table]]


def lines(table: str, rows: list[dict[str, Any]], gates: Mapping[str, Any], lang: str) -> Iterator[list[str]]:
    keys = [k for k, _w, _width in COLUMNS[table]]
    for row in rows:
        c = cells(table, row, gates, lang)
        yield [c[k] for k in keys]


# -- export -------------------------------------------------------------------------------------


def csv_text(table: str, rows: list[dict[str, Any]], gates: Mapping[str, Any], lang: str = "zh") -> str:
    """The rows as CSV with a header, in words; every cell formula-safe (report.sheet_text):
    a kiosk's text (a name, a reason typed at the desk) never becomes a live formula."""
    import csv
    import io

    from sync.office.report import sheet_text

    buf = io.StringIO()
    buf.write("\ufeff")  # the BOM: Excel on a Chinese Windows reads UTF-8 then, not GBK
    w = csv.writer(buf)
    w.writerow([sheet_text(h) for h in header(table, lang)])
    for line in lines(table, rows, gates, lang):
        w.writerow([sheet_text(c) for c in line])
    return buf.getvalue()


def xlsx_bytes(table: str, rows: list[dict[str, Any]], gates: Mapping[str, Any], lang: str = "zh") -> bytes:
    """The rows as one XLSX sheet (write-only: a hundred thousand rows in seconds), labelled
    columns of set widths, every text cell a string with Excel's quote prefix when it would
    start a formula (report.looks_like_formula), so neither opening nor editing runs it."""
    import io

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    from sync.office.report import looks_like_formula

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(TABLE_WORDS[table].text(lang)[:31])
    for i, (_key, _words, width) in enumerate(COLUMNS[table], 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    bold = Font(bold=True)

    def cell(value: str, font: Font | None = None) -> Any:
        c = WriteOnlyCell(ws, value=value)
        if looks_like_formula(value):
            c.data_type = "s"
            c.quotePrefix = True
        if font is not None:
            c.font = font
        return c

    ws.append([cell(h, bold) for h in header(table, lang)])
    for line in lines(table, rows, gates, lang):
        ws.append([cell(v) for v in line])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
