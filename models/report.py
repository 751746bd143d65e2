"""The day report of one checkpoint (日报, with the explicit zero report 零报告).

Counts only, never people: reports keep working after personal data is purged.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from typing import Any

from sqlalchemy import text

from models.facts import FEVER_OUTCOMES, REGISTRATION_KINDS


def day_bounds(day: dt.date) -> tuple[float, float]:
    start = dt.datetime.combine(day, dt.time.min)
    end = start + dt.timedelta(days=1)
    return time.mktime(start.timetuple()), time.mktime(end.timetuple())


def parse_day(value: str | None) -> dt.date:
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        from models.errors import KakouError

        raise KakouError(
            f"日期格式应为 YYYY-MM-DD，例如 2022-03-15：{value}",
            f"date must be YYYY-MM-DD, e.g. 2022-03-15: {value}",
            code="date",
        ) from None


def counts_between(conn, start: float, end: float) -> dict[str, Any]:
    q = lambda sql: conn.execute(text(sql), {"s": start, "e": end}).all()  # noqa: E731
    passages = {"in": 0, "out": 0}
    turned_back = 0
    denials: Counter[str] = Counter()
    for direction, verdict, reasons, n in q(
        "SELECT direction, verdict, reasons, count(*) FROM passage WHERE device_time >= :s AND device_time < :e"
        " GROUP BY direction, verdict, reasons"
    ):
        if verdict == "allow":
            passages[direction] += n
        else:
            turned_back += n
            for code in json.loads(reasons) or ["unknown"]:
                denials[code] += n
    cases = q("SELECT count(*) FROM fever_case WHERE device_time >= :s AND device_time < :e")[0][0]
    outcomes = {k: 0 for k in FEVER_OUTCOMES}
    for outcome, n in q(
        "SELECT o.outcome, count(*) FROM fever_outcome o JOIN fever_case c ON c.record_id = o.case_id"
        " WHERE c.device_time >= :s AND c.device_time < :e GROUP BY o.outcome"
    ):
        outcomes[outcome] = n
    registrations = {k: 0 for k in REGISTRATION_KINDS}
    for kind, n in q(
        "SELECT kind, count(*) FROM registration WHERE device_time >= :s AND device_time < :e GROUP BY kind"
    ):
        registrations[kind] = n
    return {
        "passages": passages,
        "turned_back": turned_back,
        "denials_by_reason": dict(sorted(denials.items())),
        "fevers": {"cases": cases, "outcomes": outcomes, "pending": cases - sum(outcomes.values())},
        "registrations": registrations,
    }


def day_report(store, day: dt.date | None = None) -> dict[str, Any]:
    day = day or dt.date.today()
    start, end = day_bounds(day)
    with store.engine.connect() as conn:
        body = counts_between(conn, start, end)
        conn.rollback()
    pending, oldest = store.pending()
    cp = store.checkpoint()
    total = body["passages"]["in"] + body["passages"]["out"] + body["turned_back"]
    return {
        "date": day.isoformat(),
        "checkpoint": cp.name if cp else "",
        "community": cp.community if cp else "",
        "street": cp.street if cp else "",
        **body,
        "unsynced": pending,
        "oldest_unsynced": oldest,
        # A zero report is a report: it says zero, it does not stay silent.
        "zero_report": total == 0 and body["fevers"]["cases"] == 0 and sum(body["registrations"].values()) == 0,
    }


def format_report(r: dict[str, Any], lang: str = "zh") -> str:
    from models.verdict import REASONS

    zh = lang != "en"
    reg_names = {k: (v[0] if zh else v[1]) for k, v in REGISTRATION_KINDS.items()}
    out_names = {k: (v[0] if zh else v[1]) for k, v in FEVER_OUTCOMES.items()}
    lines = [
        (
            f"{r['street']} {r['community']} {r['checkpoint']}  {r['date']} 日报"
            if zh
            else f"{r['checkpoint']} ({r['community']}, {r['street']})  day report {r['date']}"
        ).strip(),
    ]
    if r["zero_report"]:
        lines.append(
            "零报告：今日无进出、无发热、无登记。"
            if zh
            else "Zero report: no passages, no fevers, no registrations today."
        )
    p = r["passages"]
    lines.append(
        f"进入 {p['in']} 人次，外出 {p['out']} 人次，劝返 {r['turned_back']} 人次"
        if zh
        else f"In {p['in']}, out {p['out']}, turned back {r['turned_back']}"
    )
    f = r["fevers"]
    outcome_text = ("，" if zh else ", ").join(f"{out_names[k]} {v}" for k, v in f["outcomes"].items())
    lines.append(
        f"发热 {f['cases']} 例（{outcome_text}，待复测 {f['pending']}）"
        if zh
        else f"Fevers {f['cases']} ({outcome_text}, awaiting recheck {f['pending']})"
    )
    if r["denials_by_reason"]:
        parts = []
        for code, n in r["denials_by_reason"].items():
            label = REASONS[code][1 if zh else 2].split("{")[0].rstrip("：: ") if code in REASONS else code
            parts.append(f"{label} {n}")
        lines.append(("禁止原因：" if zh else "Denials: ") + ("；" if zh else "; ").join(parts))
    else:
        lines.append("禁止原因：无" if zh else "Denials: none")
    regs = ("，" if zh else ", ").join(f"{reg_names[k]} {v}" for k, v in r["registrations"].items())
    lines.append(("登记：" if zh else "Registrations: ") + regs)
    lines.append(f"未上报记录 {r['unsynced']} 条" if zh else f"Records not yet synced: {r['unsynced']}")
    return "\n".join(lines)
