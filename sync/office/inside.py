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
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from models.kinds import REGISTRATION_KINDS, PassKind
from sync.office.tables import PASS_REF_WHERE

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


# Who is inside is read from each pass's last allowed passage (office_last_passage, kept by the
# ingest: sync/office/ingest.py note_last_passages), never from the days' passages: a pass counts
# when that passage falls in the two days before the moment judged at. One whose last passage is
# after that moment (another day's report, a kiosk clock a little ahead) is looked up in the records:
# its last allowed passage within the window, as the kiosk wrote them (hlc, then seq).
_LAST = (
    "WITH last AS ("
    " SELECT kiosk_id, ref, direction, unit, pass_kind FROM office_last_passage"
    " WHERE kiosk_id IN :kiosks AND corrected_time > :since AND corrected_time <= :at"
    " UNION ALL"
    " SELECT kiosk_id, ref, direction, unit, pass_kind FROM ("
    "  SELECT r.kiosk_id, r.ref, r.direction, r.unit, r.pass_kind, row_number() OVER"
    "  (PARTITION BY r.kiosk_id, r.ref ORDER BY r.hlc DESC, r.seq DESC, r.record_id DESC) AS n"
    "  FROM office_last_passage l JOIN office_record r ON r.ref = l.ref AND r.kiosk_id = l.kiosk_id"
    "  WHERE l.kiosk_id IN :kiosks AND l.corrected_time > :at"
    " AND r.kind = 'passage' AND r.ref IS NOT NULL AND r.verdict = 'allow'"  # ix_office_record_pass_ref's rows
    " AND r.corrected_time > :since AND r.corrected_time <= :at"
    # A record's day is the local date of its corrected time: on PostgreSQL only these days'
    # partitions are opened (sync/office/partitions.py). A day of slack each side.
    "  AND r.day >= :first_day AND r.day <= :last_day"
    " ) earlier WHERE n = 1"
    ")"
)

# The guest passes' units whose last passage went in, the households' whose last went out: a few
# rows a gate, whatever the number of passes.
_UNITS = text(
    _LAST + " SELECT DISTINCT kiosk_id, direction, coalesce(unit, '?') FROM last"
    " WHERE (:late AND direction = 'in' AND pass_kind IN :guest)"
    " OR (:curfew AND direction = 'out' AND pass_kind IS NOT NULL AND pass_kind NOT IN :guest)"
).bindparams(bindparam("kiosks", expanding=True), bindparam("guest", expanding=True))

# The registrations of guest kinds in the window, as the kiosk wrote them, with their last allowed
# passage's direction and time (their sign-out) when it is in the window or after it. Their kind and
# unit are the columns the ingest read out; the payload is read only when it may say something else:
# a direction other than a single top-level "in" (a JSON key "direction" with the value "in" can only
# be written so; a string holding those words has its quotes escaped), or a unit the column cut.
_REGISTRATIONS = text(
    "SELECT r.kiosk_id, r.record_id, r.detail, r.unit,"
    ' CASE WHEN r.payload LIKE \'%"direction":"in"%\' AND r.payload NOT LIKE \'%"direction"%"direction"%\''
    " AND (r.unit IS NULL OR length(r.unit) < 32) THEN NULL ELSE r.payload END,"
    " l.direction, l.corrected_time FROM office_record r"
    " LEFT JOIN office_last_passage l ON l.kiosk_id = r.kiosk_id AND l.ref = r.record_id AND l.corrected_time > :since"
    " WHERE r.kind = 'registration' AND r.detail IN :guest AND r.kiosk_id IN :kiosks"
    " AND r.corrected_time > :since AND r.corrected_time <= :at AND r.day >= :first_day AND r.day <= :last_day"
    " ORDER BY r.kiosk_id, r.hlc, r.seq"
).bindparams(bindparam("kiosks", expanding=True), bindparam("guest", expanding=True))

# The last allowed passage within the window of registrations whose last one is after it.
_SIGNED_OUT_BEFORE = text(
    "SELECT kiosk_id, ref FROM ("
    " SELECT kiosk_id, ref, direction, row_number() OVER"
    " (PARTITION BY kiosk_id, ref ORDER BY hlc DESC, seq DESC, record_id DESC) AS n FROM office_record"
    f" WHERE {PASS_REF_WHERE} AND ref IN :refs AND kiosk_id IN :kiosks"
    " AND corrected_time > :since AND corrected_time <= :at AND day >= :first_day AND day <= :last_day"
    ") earlier WHERE n = 1 AND direction = 'out'"
).bindparams(bindparam("kiosks", expanding=True), bindparam("refs", expanding=True))

_REFS_CHUNK = 500


def rebuild_last_passages(conn: Connection) -> int:
    """Rebuild office_last_passage from the records (as migration 0028 filled it): after records
    were written around the ingest (a bulk load) or by hand. Returns the rows made."""
    conn.execute(text("DELETE FROM office_last_passage"))
    return int(
        conn.execute(
            text(
                "INSERT INTO office_last_passage"
                " (kiosk_id, ref, hlc, seq, record_id, corrected_time, day, direction, unit, pass_kind)"
                " SELECT kiosk_id, ref, hlc, seq, record_id, corrected_time, day, direction, unit, pass_kind FROM ("
                " SELECT kiosk_id, ref, hlc, seq, record_id, corrected_time, day, direction, unit, pass_kind,"
                " row_number() OVER (PARTITION BY kiosk_id, ref ORDER BY hlc DESC, seq DESC, record_id DESC) AS n"
                f" FROM office_record WHERE {PASS_REF_WHERE}) last WHERE n = 1"
            )
        ).rowcount
        or 0
    )


def forget_days_before(conn: Connection, first_kept: str) -> int:
    """A purge took the records of the days before `first_kept`: the last passages on those days
    go too (each pass's earlier ones went with them). Returns the rows deleted."""
    return int(conn.execute(text("DELETE FROM office_last_passage WHERE day < :d"), {"d": first_kept}).rowcount or 0)


def out_of_place(conn: Connection, kiosk_ids: list[str], day: dt.date, now: float | None = None) -> dict[str, Any]:
    """Per kiosk, who is out of place (as `where_people_are` says it from the records): for today
    as things are now, for another day as it ended. Empty lists before the visiting hours / the
    curfew. Reads each pass's last passage (office_last_passage), not the days' passages."""
    now = time.time() if now is None else now
    end = time.mktime((day + dt.timedelta(days=1)).timetuple()) - 1
    at = min(now, end)
    places: dict[str, dict[str, list[Any]]] = {kid: {} for kid in kiosk_ids}
    if not kiosk_ids:
        return places
    from sync.office.admin import office_policy
    from sync.office.ingest import read_payload

    policy = office_policy(conn)
    late, curfew = hour_passed(at, policy.visiting_until_hour), hour_passed(at, policy.curfew_hour)
    visitors: dict[str, set[str]] = {kid: set() for kid in kiosk_ids}
    out: dict[str, set[str]] = {kid: set() for kid in kiosk_ids}
    inside: dict[str, dict[str, tuple[str, str]]] = {kid: {} for kid in kiosk_ids}
    window = {
        "kiosks": kiosk_ids,
        "since": at - WINDOW_SECONDS,
        "at": at,
        "first_day": time.strftime("%Y-%m-%d", time.localtime(at - WINDOW_SECONDS - 86400)),
        "last_day": time.strftime("%Y-%m-%d", time.localtime(at + 86400)),
    }
    if late or curfew:
        guest = sorted(_GUEST_PASSES)
        for kiosk_id, direction, unit in conn.execute(
            _UNITS, window | {"late": late, "curfew": curfew, "guest": guest}
        ):
            (visitors if direction == "in" else out)[kiosk_id].add(unit)
    if late:
        unsure: dict[str, str] = {}  # registration id -> kiosk: its last passage is after the window
        for kiosk_id, record_id, kind, unit, payload, direction, last_at in conn.execute(
            _REGISTRATIONS, window | {"guest": sorted(_GUEST_REGISTRATIONS)}
        ):
            if payload is not None:
                try:
                    p = read_payload(payload)
                except ValueError:
                    continue  # an unreadable record is flagged at ingest; it says nothing of anyone
                # Registrations written before they said their direction were all coming in.
                if (
                    not isinstance(p, dict)
                    or p.get("kind") not in _GUEST_REGISTRATIONS
                    or p.get("direction", "in") != "in"
                ):
                    continue
                kind, unit = str(p.get("kind")), str(p.get("to_unit") or "")
            if last_at is not None and last_at <= at and direction == "out":
                continue  # signed out
            inside[kiosk_id][record_id] = (kind, unit or "")
            if last_at is not None and last_at > at:
                unsure[record_id] = kiosk_id
        refs = sorted(unsure)
        for i in range(0, len(refs), _REFS_CHUNK):
            for kiosk_id, ref in conn.execute(_SIGNED_OUT_BEFORE, window | {"refs": refs[i : i + _REFS_CHUNK]}):
                inside[kiosk_id].pop(ref, None)
    for kid in kiosk_ids:
        places[kid] = {
            "visitors_inside": sorted(visitors[kid]),
            "registrations_inside": [[kind, unit] for kind, unit in inside[kid].values()],
            "out_past_curfew": sorted(out[kid]),
        }
    return places
