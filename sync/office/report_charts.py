"""The Reports page's figures: the day report as one account may see it, passages per hour of
the day, passages per gate, and fevers per day over the last weeks. Counts only, never people.

Passages are the report's: allowed passages in and out (what `report.day_report` counts as "in"
and "out"). Hours are the office's local hours from the start of the day. The per-day counts come
from office_day_count (counted as records arrive), the hours from the records of that one day.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from sync.office.report import totals_of
from sync.office.users import Account

__all__ = ["FEVER_DAYS", "fevers_by_day", "passages_by_gate", "passages_by_hour", "scoped"]

FEVER_DAYS = 28


def scoped(report: dict[str, Any], account: Account) -> dict[str, Any]:
    """The day report with only the checkpoints the account sees, and the totals of those."""
    if account.role != "community":
        return report
    rows = [r for r in report["checkpoints"] if account.sees(r["community"])]
    return {
        **report,
        "checkpoints": rows,
        "totals": totals_of(rows),
        "not_reported": [r for r in report["not_reported"] if account.sees(r["community"])],
        "lost": [r for r in report.get("lost", []) if account.sees(r["community"])],
    }


def passages_by_gate(report: dict[str, Any]) -> list[tuple[str, int]]:
    """(checkpoint, passages in and out) per checkpoint of the (scoped) day report, in its order."""
    return [(f"{r['community']} {r['checkpoint']}", int(r["in"]) + int(r["out"])) for r in report["checkpoints"]]


def _kiosks(engine: Engine, account: Account) -> list[str] | None:
    """The kiosks of the account's community, or None for every kiosk."""
    if account.role != "community":
        return None
    with engine.execution_options(immediate=False).connect() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text("SELECT kiosk_id FROM office_kiosk WHERE community = :c"), {"c": account.community or ""}
            )
        ]
        conn.rollback()
    return ids


def passages_by_hour(engine: Engine, day: dt.date, account: Account) -> list[int]:
    """Allowed passages in and out in each local hour 0..23 of `day` (a day of 25 hours, when
    the clocks go back, counts its last hour in 23)."""
    start = time.mktime(dt.datetime.combine(day, dt.time.min).timetuple())
    kiosks = _kiosks(engine, account)
    if kiosks == []:
        return [0] * 24
    hour = (
        "CAST(floor((corrected_time - :start) / 3600) AS INTEGER)"
        if engine.dialect.name == "postgresql"
        else "CAST((corrected_time - :start) / 3600 AS INTEGER)"  # truncates; never negative here
    )
    where = "day = :d AND kind = 'passage' AND verdict = 'allow' AND direction IN ('in', 'out')"
    q = text(
        f"SELECT {hour} AS h, count(*) FROM office_record WHERE {where}"
        + (" AND kiosk_id IN :kiosks" if kiosks is not None else "")
        + " GROUP BY 1"
    )
    params: dict[str, Any] = {"d": day.isoformat(), "start": start}
    if kiosks is not None:
        q = q.bindparams(bindparam("kiosks", expanding=True))
        params["kiosks"] = kiosks
    counts = [0] * 24
    with engine.execution_options(immediate=False).connect() as conn:
        for h, n in conn.execute(q, params):
            counts[min(max(int(h), 0), 23)] += int(n)
        conn.rollback()
    return counts


def fevers_by_day(engine: Engine, last: dt.date, account: Account, days: int = FEVER_DAYS) -> list[tuple[str, int]]:
    """(YYYY-MM-DD, fever cases) for each of the `days` days ending on `last`, oldest first."""
    first = last - dt.timedelta(days=days - 1)
    kiosks = _kiosks(engine, account)
    counts = {(first + dt.timedelta(days=i)).isoformat(): 0 for i in range(days)}
    if kiosks == []:
        return list(counts.items())
    q = text(
        "SELECT day, sum(n) FROM office_day_count WHERE kind = 'fever_case' AND day >= :a AND day <= :b"
        + (" AND kiosk_id IN :kiosks" if kiosks is not None else "")
        + " GROUP BY day"
    )
    params: dict[str, Any] = {"a": first.isoformat(), "b": last.isoformat()}
    if kiosks is not None:
        q = q.bindparams(bindparam("kiosks", expanding=True))
        params["kiosks"] = kiosks
    with engine.execution_options(immediate=False).connect() as conn:
        for day, n in conn.execute(q, params):
            if day in counts:
                counts[day] += int(n or 0)
        conn.rollback()
    return list(counts.items())
