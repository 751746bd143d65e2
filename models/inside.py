"""Who is inside: visitors (a visitor pass whose last allowed passage here went in) and people
registered at the desk (a visitor, courier, escort or worker registered coming in and not signed
out since). A registration is signed out by its exit: a passage out that names it, recorded when
the volunteer picks them from the desk's list of visitors inside (tui/screens/inside.py).

By this gate's own records, over the last two days (a visitor is a same-day guest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text

from models.errors import KakouError
from models.kinds import REGISTRATION_KINDS, PassKind, registration_label
from models.values import mask_name

if TYPE_CHECKING:
    from models.outbox import Fact
    from models.store import KioskStore

# How far back the list looks: a guest registered the day before yesterday is not "inside" any more
# by these records (the handover of that day named them).
INSIDE_WINDOW_SECONDS = 2 * 86400

GUEST_REGISTRATIONS = [code for code, info in REGISTRATION_KINDS.items() if info.guest]
GUEST_PASS_KINDS = [int(k) for k in PassKind if k.info.guest]

_REGISTRATIONS_INSIDE = text(
    "SELECT r.record_id, r.kind, r.name, r.to_unit, r.device_time FROM registration r"
    " WHERE r.direction = 'in' AND r.kind IN :kinds AND r.device_time > :since AND r.device_time <= :now"
    " AND NOT EXISTS (SELECT 1 FROM passage p WHERE p.registration_id = r.record_id"
    " AND p.direction = 'out' AND p.verdict = 'allow')"
    " ORDER BY r.device_time, r.record_id"
).bindparams(bindparam("kinds", expanding=True))

# The last allowed passage of each guest pass (SQLite takes the bare columns from the row of max()).
_GUEST_PASSES = text(
    "SELECT p.pass_id, p.pass_kind, p.unit_code, p.direction, max(p.device_time), i.name FROM passage p"
    " LEFT JOIN pass_issued i ON i.pass_id = p.pass_id"
    " WHERE p.verdict = 'allow' AND p.pass_id IS NOT NULL AND p.pass_kind IN :kinds"
    " AND p.device_time > :since AND p.device_time <= :now GROUP BY p.pass_id"
).bindparams(bindparam("kinds", expanding=True))


@dataclass(frozen=True)
class Inside:
    """One person inside, as the list shows them: never a full name."""

    key: str  # "reg:<record id>" or "pass:<pass id>": what `sign_out` takes
    subject: str  # "registration" | "pass"
    kind: str  # registration kind code, or the pass kind's number as text
    unit: str
    name_masked: str
    since: float  # device time of the registration / the passage in

    def kind_label(self, lang: str = "zh") -> str:
        if self.subject == "registration":
            return registration_label(self.kind, lang)
        return PassKind(int(self.kind)).info.name.text(lang)


def visitors_inside(store: KioskStore, now: float | None = None) -> list[Inside]:
    """Everyone inside who is not of a household here, longest inside first."""
    now = store.trusted_now() if now is None else now
    params = {"since": now - INSIDE_WINDOW_SECONDS, "now": now}
    with store.engine.connect() as conn:
        regs = conn.execute(_REGISTRATIONS_INSIDE, {**params, "kinds": GUEST_REGISTRATIONS}).all()
        passes = conn.execute(_GUEST_PASSES, {**params, "kinds": GUEST_PASS_KINDS}).all()
        conn.rollback()
    people = [
        Inside(f"reg:{rid}", "registration", kind, unit or "", mask_name(name or ""), when)
        for rid, kind, name, unit, when in regs
    ]
    people += [
        Inside(f"pass:{pid}", "pass", str(kind), unit or "", mask_name(name or ""), when)
        for pid, kind, unit, direction, when, name in passes
        if direction == "in"
    ]
    return sorted(people, key=lambda p: (p.since, p.key))


def _not_inside() -> KakouError:
    return KakouError(
        "此人已不在院内（已离开或已签退）", "not inside any more (left or signed out already)", code="not_inside"
    )


def sign_out(store: KioskStore, key: str, volunteer_id: int | None = None, now: float | None = None) -> Fact:
    """Record the exit of someone on the list of visitors inside: an allowed passage out, marked
    "signed_out" (picked from the list, not scanned), naming the registration or the pass. Refused
    in words for anyone not inside now (signed out twice, a made-up key): one exit per stay."""
    from models.facts import record_sign_out

    match = next((p for p in visitors_inside(store, now) if p.key == key), None)
    if match is None:
        raise _not_inside()
    ident = key.split(":", 1)[1]
    if match.subject == "registration":
        return record_sign_out(store, match.unit, registration_id=ident, volunteer_id=volunteer_id)
    return record_sign_out(store, match.unit, pass_id=ident, pass_kind=int(match.kind), volunteer_id=volunteer_id)
