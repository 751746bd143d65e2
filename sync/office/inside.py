"""Who is inside and who is out, by the records the office holds: per checkpoint, the visitors
(by their pass) and the people registered at the gate (a visitor, courier, escort or worker not
signed out) still inside after the visiting hours, and the households with someone (a resident,
outing or work pass) still out after the curfew. The kiosk's own handover says the same from its
file (models/report.py who_is_out_of_place); here it is computed from the pushed passages and
registrations, in the order each kiosk wrote them (its hybrid logical clock).

Units and kinds only, never names.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from models.kinds import REGISTRATION_KINDS, PassKind
from sync.office.tables import PEOPLE_WHERE

# As the kiosk looks: a visitor is a same-day guest, two days of records say where everyone is.
WINDOW_SECONDS = 2 * 86400
_GUEST_PASSES = frozenset(int(k) for k in PassKind if k.info.guest)
_GUEST_REGISTRATIONS = frozenset(code for code, info in REGISTRATION_KINDS.items() if info.guest)


def where_people_are(records: Iterable[tuple[str, str, dict[str, Any]]]) -> dict[str, list[Any]]:
    """From one kiosk's passages and registrations (kind, record id, payload), in the order it
    wrote them: the guest pass units inside, the registrations inside ([kind, unit]) and the
    household units with someone out. A pure function of the records."""
    last: dict[str, tuple[int | None, str, str]] = {}  # pass id -> (kind, unit, direction)
    registered: dict[str, tuple[str, str]] = {}  # record id -> (kind, unit), still inside
    signed_out: set[str] = set()
    for kind, record_id, p in records:
        if kind == "registration":
            # Registrations written before they said their direction were all coming in.
            if p.get("kind") in _GUEST_REGISTRATIONS and p.get("direction", "in") == "in":
                registered[record_id] = (str(p.get("kind")), str(p.get("to_unit") or ""))
            continue
        if kind != "passage" or p.get("verdict") != "allow":
            continue
        reg = p.get("registration_id")
        if reg and p.get("direction") == "out":
            signed_out.add(str(reg))
        pass_id = p.get("pass_id")
        if pass_id:
            pass_kind = p.get("pass_kind")
            last[str(pass_id)] = (
                pass_kind if isinstance(pass_kind, int) else None,
                str(p.get("unit_code") or "?"),
                str(p.get("direction")),
            )
    visitors = sorted({unit for k, unit, d in last.values() if k in _GUEST_PASSES and d == "in"})
    out = sorted({unit for k, unit, d in last.values() if k is not None and k not in _GUEST_PASSES and d == "out"})
    inside = [[kind, unit] for rid, (kind, unit) in registered.items() if rid not in signed_out]
    return {"visitors_inside": visitors, "registrations_inside": inside, "out_past_curfew": out}


def hour_passed(at: float, hour: int) -> bool:
    """Local `hour` (0..24) has passed on the day of `at`; 0 or 24 is no limit."""
    if hour <= 0 or hour >= 24:
        return False
    lt = time.localtime(at)
    return lt.tm_hour + lt.tm_min / 60 >= hour


# Registrations, and of the passages naming a pass or a registration only the last allowed one of
# each (the index ix_office_record_people holds just these rows): a pure function reads the rest.
_RECORDS = text(
    "SELECT kiosk_id, kind, record_id, payload FROM ("
    " SELECT kiosk_id, kind, record_id, payload, hlc, seq,"
    " row_number() OVER (PARTITION BY kiosk_id, kind, ref ORDER BY hlc DESC, seq DESC) AS n"
    f" FROM office_record WHERE ({PEOPLE_WHERE})"
    " AND kiosk_id IN :kiosks AND corrected_time > :since AND corrected_time <= :at"
    # A record's day is the local date of its corrected time: on PostgreSQL only these days'
    # partitions are opened (sync/office/partitions.py). A day of slack each side.
    " AND day >= :first_day AND day <= :last_day"
    " AND (kind = 'registration' OR verdict = 'allow')"
    ") last WHERE kind = 'registration' OR n = 1 ORDER BY kiosk_id, hlc, seq"
).bindparams(bindparam("kiosks", expanding=True))


def out_of_place(conn: Connection, kiosk_ids: list[str], day: dt.date, now: float | None = None) -> dict[str, Any]:
    """Per kiosk, who is out of place (see `where_people_are`): for today as things are now, for
    another day as it ended. Empty lists before the visiting hours / the curfew."""
    now = time.time() if now is None else now
    end = time.mktime((day + dt.timedelta(days=1)).timetuple()) - 1
    at = min(now, end)
    places: dict[str, dict[str, list[Any]]] = {kid: {} for kid in kiosk_ids}
    if not kiosk_ids:
        return places
    from sync.office.admin import office_policy

    policy = office_policy(conn)
    late, curfew = hour_passed(at, policy.visiting_until_hour), hour_passed(at, policy.curfew_hour)
    by_kiosk: dict[str, list[tuple[str, str, dict[str, Any]]]] = {kid: [] for kid in kiosk_ids}
    for kiosk_id, kind, record_id, payload in conn.execute(
        _RECORDS,
        {
            "kiosks": kiosk_ids,
            "since": at - WINDOW_SECONDS,
            "at": at,
            "first_day": time.strftime("%Y-%m-%d", time.localtime(at - WINDOW_SECONDS - 86400)),
            "last_day": time.strftime("%Y-%m-%d", time.localtime(at + 86400)),
        },
    ):
        try:
            p = json.loads(payload)
        except ValueError:
            continue  # an unreadable record is flagged at ingest; it says nothing of anyone
        if isinstance(p, dict):
            by_kiosk[kiosk_id].append((kind, record_id, p))
    for kid, records in by_kiosk.items():
        where = where_people_are(records)
        places[kid] = {
            "visitors_inside": where["visitors_inside"] if late else [],
            "registrations_inside": where["registrations_inside"] if late else [],
            "out_past_curfew": where["out_past_curfew"] if curfew else [],
        }
    return places
