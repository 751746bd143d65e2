"""Registrations found by the unit they went to (or by their record id), masked, for the clerk
who must open one's sealed numbers (`sealed.lookup`, always with a reason, audited).

Only the registrations of the gates an account may see; names masked (张*明), numbers as the
kiosk masked them. Nothing here opens anything sealed: it says only whether there is something
sealed to open.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine

from models.errors import KakouError
from sync.office import tables as t
from sync.office.users import Account

__all__ = ["MAX_DAYS", "MAX_ROWS", "find"]

MAX_DAYS = 31  # one search reads at most a month of registrations
MAX_ROWS = 200


def _start(day: dt.date) -> float:
    return time.mktime(dt.datetime.combine(day, dt.time.min).timetuple())


def _unit(text: str) -> str:
    """The unit as `parse_unit` writes it ("3栋2单元501" is 3-2-501), or as it came."""
    from models.values import ValueRejected, parse_unit

    try:
        return str(parse_unit(text)) if text else ""
    except ValueRejected:
        return text


def _row(r: Any) -> dict[str, Any] | None:
    from models.facts import REGISTRATION_KINDS
    from models.values import mask_name

    try:
        p = json.loads(r.payload)
    except ValueError:
        return None
    if not isinstance(p, dict):
        return None
    kind = str(p.get("kind") or "")
    info = REGISTRATION_KINDS.get(kind)
    return {
        "record_id": r.record_id,
        "at": r.corrected_time,
        "checkpoint": r.name,
        "community": r.community,
        "kind": kind,
        "kind_words": info.name if info is not None else None,
        "direction": str(p.get("direction") or "in"),
        "to_unit": _unit(str(p.get("to_unit") or "")),
        "name": mask_name(str(p.get("name") or "")),
        "id_masked": str(p.get("id_masked") or ""),
        "phone_masked": str(p.get("phone_masked") or ""),
        "sealed": bool(p.get("id_sealed") or p.get("phone_sealed")),
        "purged": bool(p.get("purged")),
    }


def find(
    engine: Engine,
    account: Account,
    *,
    unit: str | None = None,
    record_id: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> list[dict[str, Any]]:
    """The registrations to `unit` made from `since` to `until` (days, at most MAX_DAYS; default
    the last week) at the gates `account` sees, newest first; or the one registration `record_id`.
    A unit that is no unit, or days the wrong way round, is refused in words."""
    from models.values import ValueRejected, parse_unit

    until = until or dt.date.today()
    since = since or until - dt.timedelta(days=6)
    if since > until or (until - since).days >= MAX_DAYS:
        raise KakouError(
            f"日期范围须在 {MAX_DAYS} 天以内，且开始不晚于结束",
            f"the days must run forwards and span at most {MAX_DAYS} days",
            code="usage",
        )
    wanted = None
    if not record_id:
        try:
            wanted = str(parse_unit(unit or ""))
        except ValueRejected as exc:
            raise KakouError(exc.zh, exc.en, code=exc.code) from None
    q = (
        select(t.record.c.record_id, t.record.c.corrected_time, t.record.c.payload, t.kiosk.c.name, t.kiosk.c.community)
        .join(t.kiosk, t.kiosk.c.kiosk_id == t.record.c.kiosk_id)
        .where(t.record.c.kind == "registration")
    )
    if account.role == "community":
        q = q.where(t.kiosk.c.community == (account.community or ""))
    if record_id:
        q = q.where(t.record.c.record_id == record_id.strip()[:36])
        params: dict[str, Any] = {}
    else:
        # ix_office_record_people (kiosk_id, corrected_time) holds every registration.
        q = q.where(
            t.record.c.corrected_time >= bindparam("low"), t.record.c.corrected_time < bindparam("high")
        ).order_by(t.record.c.corrected_time.desc())
        params = {"low": _start(since), "high": _start(until + dt.timedelta(days=1))}
    out = []
    with engine.execution_options(immediate=False).connect() as conn:
        for r in conn.execute(q, params):
            row = _row(r)
            if row is None or (wanted is not None and row["to_unit"] != wanted):
                continue
            out.append(row)
            if len(out) >= MAX_ROWS:
                break
        conn.rollback()
    return out
