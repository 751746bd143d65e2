"""The day report of one checkpoint (日报, with the explicit zero report 零报告).

Counts only, never people: reports keep working after personal data is purged.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from models.hwm import LostRange, lost_words
from models.kinds import FEVER_OUTCOMES, REGISTRATION_KINDS, registration_label
from models.reasons import reason_label
from models.words import Words

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from models.store import KioskStore


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


def counts_between(conn: Connection, start: float, end: float) -> dict[str, Any]:
    # Rows of raw SQL: their shape is the query's, which the type system cannot see.
    def q(sql: str) -> Sequence[Any]:
        return conn.execute(text(sql), {"s": start, "e": end}).all()

    passages = {"in": 0, "out": 0}
    turned_back = 0
    overridden = 0
    denials: Counter[str] = Counter()
    for direction, verdict, reasons, n in q(
        "SELECT direction, verdict, reasons, count(*) FROM passage WHERE device_time >= :s AND device_time < :e"
        " GROUP BY direction, verdict, reasons"
    ):
        if verdict == "allow":
            passages[direction] += n
            if "overridden" in (json.loads(reasons) or ()):
                overridden += n
        else:
            turned_back += n
            for code in json.loads(reasons) or ["unknown"]:
                denials[code] += n
    from models.health_checks import count_checks

    checks = count_checks(
        (json.loads(seen), n)
        for seen, n in q(
            "SELECT checks, count(*) FROM passage WHERE device_time >= :s AND device_time < :e AND checks <> ''"
            " GROUP BY checks"
        )
    )
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
        "overridden": overridden,
        "denials_by_reason": dict(sorted(denials.items())),
        # What the volunteers saw of the checks beside the pass ({"health_code": {"red": 2}});
        # the denials they caused are the *_deny reasons above.
        "checks_seen": checks,
        "fevers": {"cases": cases, "outcomes": outcomes, "pending": cases - sum(outcomes.values())},
        "registrations": registrations,
    }


# The last allowed passage of each pass seen in the last two days (SQLite takes the bare columns
# from the row of max()): where each card is now, by this gate's records.
_WHERE_PASSES_ARE = text(
    "SELECT pass_id, pass_kind, unit_code, direction, max(device_time) FROM passage"
    " WHERE verdict = 'allow' AND pass_id IS NOT NULL AND device_time > :since AND device_time <= :now"
    " GROUP BY pass_id"
)


def _hour_passed(now: float, hour: int) -> bool:
    """Local `hour` (0..24) has passed today at `now`; 0 or 24 never passes (no limit)."""
    if hour <= 0 or hour >= 24:
        return False
    lt = time.localtime(now)
    return lt.tm_hour + lt.tm_min / 60 >= hour


def who_is_out_of_place(store: KioskStore, now: float | None = None) -> dict[str, Any]:
    """Visitors (by their pass) and people registered at the desk (a visitor, courier, escort or
    worker not signed out) still inside after the visiting hours, and households with someone (a
    resident, outing or work pass) still out after the curfew - from this gate's records
    (models/inside.py). Units and kinds only, never names. Empty before those hours."""
    from models.inside import visitors_inside
    from models.kinds import PassKind

    now = store.trusted_now() if now is None else now
    policy = store.policy()
    with store.engine.connect() as conn:
        rows = conn.execute(_WHERE_PASSES_ARE, {"since": now - 2 * 86400, "now": now}).all()
        conn.rollback()
    guests = {int(k) for k in PassKind if k.info.guest}
    out = sorted({unit or "?" for _p, kind, unit, direction, _t in rows if kind not in guests and direction == "out"})
    inside = visitors_inside(store, now)
    visitors = sorted({p.unit or "?" for p in inside if p.subject == "pass"})
    registered = [[p.kind, p.unit] for p in inside if p.subject == "registration"]
    late = _hour_passed(now, policy.visiting_until_hour)
    return {
        "visitors_inside": visitors if late else [],
        "registrations_inside": registered if late else [],
        "out_past_curfew": out if _hour_passed(now, policy.curfew_hour) else [],
        "visiting_until_hour": policy.visiting_until_hour,
        "curfew_hour": policy.curfew_hour,
    }


def registrations_words(items: list[list[str]], lang: str = "zh") -> str:
    """[[kind, unit], ...] as "访客 4-1-101，快递外卖 2" (a kind and its unit, then one count per
    kind of those without a unit)."""
    sep = _W["comma"].text(lang)
    named = [f"{registration_label(kind, lang)} {unit}" for kind, unit in items if unit]
    no_unit = Counter(kind for kind, unit in items if not unit)
    named += [f"{registration_label(kind, lang)} {n}" for kind, n in sorted(no_unit.items())]
    return sep.join(named)


def day_report(store: KioskStore, day: dt.date | None = None) -> dict[str, Any]:
    day = day or dt.date.today()
    start, end = day_bounds(day)
    from models.outbox import damaged_records

    with store.engine.connect() as conn:
        body = counts_between(conn, start, end)
        # The day's records checked against their hashes (a few thousand: milliseconds).
        damaged = len(damaged_records(conn, start, end))
        conn.rollback()
    pending, oldest = store.pending()
    lost = store.lost_ranges()
    cp = store.checkpoint()
    # Today's report says who is still in (or out) now; another day's, as that day ended.
    now = store.trusted_now()
    places = who_is_out_of_place(store, now if start <= now < end else end - 1)
    total = body["passages"]["in"] + body["passages"]["out"] + body["turned_back"]
    return {
        "date": day.isoformat(),
        "checkpoint": cp.name if cp else "",
        "community": cp.community if cp else "",
        "street": cp.street if cp else "",
        **body,
        "visitors_inside": places["visitors_inside"],
        "registrations_inside": places["registrations_inside"],
        "out_past_curfew": places["out_past_curfew"],
        "unsynced": pending,
        "oldest_unsynced": oldest,
        "damaged_records": damaged,
        # Records this kiosk committed and lost (whatever their day: their times went with them).
        "lost_records": [
            {
                "epoch": r.epoch,
                "first": r.first,
                "last": r.last,
                "reason": r.reason,
                "reported": r.reported_at is not None,
            }
            for r in lost
        ],
        # A zero report is a report: it says zero, it does not stay silent.
        "zero_report": total == 0 and body["fevers"]["cases"] == 0 and sum(body["registrations"].values()) == 0,
    }


# The report's sentences (models/words.py: the domain's words come in both languages).
_W = {
    "title": Words(
        "{street} {community} {checkpoint}  {date} 日报", "{checkpoint} ({community}, {street})  day report {date}"
    ),
    "zero": Words(
        "零报告：今日无进出、无发热、无登记。", "Zero report: no passages, no fevers, no registrations today."
    ),
    "passages": Words("进入 {in_} 人次，外出 {out} 人次，劝返 {back} 人次", "In {in_}, out {out}, turned back {back}"),
    "fevers": Words(
        "发热 {cases} 例（{outcomes}，待复测 {pending}）", "Fevers {cases} ({outcomes}, awaiting recheck {pending})"
    ),
    "denials": Words("禁止原因：{items}", "Denials: {items}"),
    "overridden": Words("主管人工放行 {count} 人次", "Supervisor overrides: {count}"),
    "visitors_inside": Words("访客超时未离开：{units}", "Visitors still inside after visiting hours: {units}"),
    "registrations_inside": Words(
        "登记人员超时未离开 {count} 人：{items}",
        "Registered people still inside after visiting hours ({count}): {items}",
    ),
    "out_past_curfew": Words("宵禁后仍有人在外的住户：{units}", "Households with someone out after curfew: {units}"),
    "none": Words("无", "none"),
    "checks": Words("查验：{items}", "Checks seen: {items}"),
    "registrations": Words("登记：{items}", "Registrations: {items}"),
    "unsynced": Words("未上报记录 {count} 条", "Records not yet synced: {count}"),
    "damaged": Words(
        "警告：本日有 {count} 条记录的存档已损坏（与写入时的校验值不符），以上数字可能不准。请联系管理员，不要删除数据文件。",
        "WARNING: {count} of today's records are damaged on this kiosk (they no longer match the hash written with"
        " them); the figures above may be wrong. Call your supervisor; do not delete the data file.",
    ),
    "comma": Words("，", ", "),
    "semicolon": Words("；", "; "),
}


def format_report(r: dict[str, Any], lang: str = "zh") -> str:
    w = {key: words.text(lang) for key, words in _W.items()}
    lines = [w["title"].format(**r).strip()]
    if r["zero_report"]:
        lines.append(w["zero"])
    p = r["passages"]
    lines.append(w["passages"].format(in_=p["in"], out=p["out"], back=r["turned_back"]))
    f = r["fevers"]
    outcomes = w["comma"].join(f"{FEVER_OUTCOMES[k].name.text(lang)} {v}" for k, v in f["outcomes"].items())
    lines.append(w["fevers"].format(cases=f["cases"], outcomes=outcomes, pending=f["pending"]))
    denials = w["semicolon"].join(f"{reason_label(code, lang)} {n}" for code, n in r["denials_by_reason"].items())
    lines.append(w["denials"].format(items=denials or w["none"]))
    if r.get("overridden"):
        lines.append(w["overridden"].format(count=r["overridden"]))
    if r.get("visitors_inside"):
        lines.append(w["visitors_inside"].format(units=w["comma"].join(r["visitors_inside"])))
    if r.get("registrations_inside"):
        items = registrations_words(r["registrations_inside"], lang)
        lines.append(w["registrations_inside"].format(count=len(r["registrations_inside"]), items=items))
    if r.get("out_past_curfew"):
        lines.append(w["out_past_curfew"].format(units=w["comma"].join(r["out_past_curfew"])))
    if r.get("checks_seen"):
        from models.health_checks import checks_words

        lines.append(w["checks"].format(items=checks_words(r["checks_seen"], lang)))
    regs = w["comma"].join(f"{registration_label(k, lang)} {v}" for k, v in r["registrations"].items())
    lines.append(w["registrations"].format(items=regs))
    lines.append(w["unsynced"].format(count=r["unsynced"]))
    if r.get("damaged_records"):
        lines.append(w["damaged"].format(count=r["damaged_records"]))
    lost = lost_words(
        [
            LostRange(x["epoch"], x["first"], x["last"], x["reason"], 0.0, 1.0 if x["reported"] else None)
            for x in r.get("lost_records", [])
        ]
    )
    if lost is not None:
        lines.append(lost.text(lang))
    return "\n".join(lines)
