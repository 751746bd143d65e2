"""The Today page's rows: every checkpoint's day, from the day report and the kiosks' status.

Nothing is counted here that `report.day_report` (the day's counts, reported or not) or
`status.kiosk_status` (last seen, backlog, clock skew, lists behind) already counts: this joins
the two and says, per checkpoint, one of

- ``silent``   未报告: no record of the day and no contact since the day began (the report's
  "not reported");
- ``late``     迟报: it reported, but has been out of touch longer than `late_after` (today), or
  not in touch since the day ended (an earlier day: what it recorded late may still be on its way),
  or it still holds records it has not sent;
- ``zero``     零报告: in touch, nothing recorded: a report of zero, not silence;
- ``reported`` 已报告: in touch, records in.

Completeness as DHIS2 has it: the reporting rate (every state but silent over all
checkpoints) and on time (reported or zero over all). The silent rows come first, then the late.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy.engine import Engine

from sync.office.report import FEVER_COLUMNS, day_report
from sync.office.status import kiosk_status
from sync.office.users import Account

STATES = ("silent", "late", "zero", "reported")
DEFAULT_LATE_AFTER_S = 2 * 3600.0
CLOCK_SKEW_WARN_S = 120.0
# An enrolled gate not in touch for this long is offline: its alerts cannot reach the office
# (a kiosk that is online syncs every minute, and backs off to at most five).
BLIND_AFTER_S = 600.0


def _day_end(day: dt.date) -> float:
    return time.mktime(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min).timetuple())


def checkpoint_state(row: dict[str, Any], day: dt.date, now: float, late_after: float) -> str:
    if not row["reported"]:
        return "silent"
    seen = row.get("last_seen") or 0.0
    end = _day_end(day)
    if now < end:  # the day is still going on
        late = now - seen > late_after
    else:
        late = seen < end
    if late or row.get("backlog", 0) > 0:
        return "late"
    return "zero" if row["records"] == 0 else "reported"


def blind(kiosk: dict[str, Any], now: float) -> bool:
    """Is this enrolled gate offline now, so that the office would not hear its alerts?"""
    if kiosk.get("status") != "active":
        return False
    last_seen = kiosk.get("last_seen")
    return last_seen is None or now - last_seen > BLIND_AFTER_S


def today(
    engine: Engine,
    day: dt.date,
    account: Account,
    *,
    now: float | None = None,
    late_after: float = DEFAULT_LATE_AFTER_S,
) -> dict[str, Any]:
    """The day's rows the account may see (silent first), and its completeness figures."""
    now = time.time() if now is None else now
    # The page shows no one's whereabouts: the day's counts only (the Reports page has the rest).
    report = day_report(engine, day, places=False)
    status = {k["kiosk_id"]: k for k in kiosk_status(engine, counts=False)["kiosks"]}
    rows = []
    for r in report["checkpoints"]:
        if not account.sees(r["community"]):
            continue
        s = status.get(r["kiosk_id"], {})
        outcomes = sum(r[c] for c in FEVER_COLUMNS)
        row = {
            **r,
            "checkpoint_number": s.get("checkpoint_number"),
            "last_seen": s.get("last_seen"),
            "backlog": int(s.get("backlog") or 0),
            "clock_skew": s.get("clock_skew"),
            "clock_wrong": s.get("clock_skew") is not None and abs(s["clock_skew"]) > CLOCK_SKEW_WARN_S,
            "lists_behind": s.get("lists_behind", []),
            "fevers_pending": max(0, r["fevers"] - outcomes),
            "blind": blind(s, now),
        }
        row["state"] = checkpoint_state(row, day, now, late_after)
        rows.append(row)
    rows.sort(key=lambda r: (STATES.index(r["state"]), r["community"], r["checkpoint"]))
    counts = {state: sum(1 for r in rows if r["state"] == state) for state in STATES}
    total = len(rows)
    return {
        "date": report["date"],
        "rows": rows,
        "counts": counts,
        "total": total,
        "reporting_rate": (total - counts["silent"]) / total if total else None,
        "on_time": (counts["zero"] + counts["reported"]) / total if total else None,
        "totals": {
            key: sum(r[key] for r in rows)
            for key in ("in", "out", "turned_back", "fevers", "fevers_pending", "registrations")
        },
        "generated_at": now,
    }
