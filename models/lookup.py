"""Look-ups the duty desk makes from the scan line: by ID number, phone, unit or name.

Everything here reads; nothing writes. ID numbers and phones are never stored in full, so
a look-up hashes the typed value with the kiosk's look-up key (argon2id over HMAC,
models/privacy.py: one slow hash per parameter set in the store, usually one) and matches the
stored hash.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from models.privacy import lookup_hashes

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from models.store import KioskStore

RESULT_LIMIT = 20  # a look-up is for the person in front of the gate, not a listing


@dataclass(frozen=True)
class RegistrationHit:
    record_id: str
    kind: str
    name: str
    id_masked: str
    phone_masked: str
    from_place: str
    to_unit: str
    reason: str
    device_time: float


@dataclass(frozen=True)
class PassHit:
    pass_id: str
    kind: int
    unit_code: str
    name: str
    valid_from: int
    valid_to: int
    revoked: bool
    revoked_reason: str = ""

    def status(self, now: float) -> str:
        """ "revoked", "expired", "not_yet_valid" or "valid"."""
        if self.revoked:
            return "revoked"
        if now >= self.valid_to:
            return "expired"
        if now < self.valid_from:
            return "not_yet_valid"
        return "valid"


@dataclass
class Household:
    unit_code: str
    known: bool  # the unit is in this kiosk's unit table
    passes: list[PassHit] = field(default_factory=list)
    out_now: list[PassHit] = field(default_factory=list)  # passes whose last allowed passage was "out"
    quarantined: bool = False
    watch_note: str | None = None
    last_passages: list[tuple[float, str, str]] = field(default_factory=list)  # (time, direction, verdict)


def _registrations(conn: Connection, where: str, params: dict[str, Any]) -> list[RegistrationHit]:
    rows = conn.execute(
        text(
            "SELECT record_id, kind, name, id_masked, phone_masked, from_place, to_unit, reason, device_time"
            f" FROM registration WHERE {where} ORDER BY device_time DESC LIMIT {RESULT_LIMIT}"
        ),
        params,
    ).all()
    return [RegistrationHit(*r) for r in rows]


def person_hashes(store: KioskStore, kind: str, value: str) -> list[str]:
    """The look-up hashes of a validated ID number ("id") or phone ("phone"), current parameters
    first: what registrations and the office's person lists are matched on."""
    return lookup_hashes(store.lookup_key, kind, value, store.lookup_costs())


def _by_hash(store: KioskStore, column: str, hashes: list[str]) -> list[RegistrationHit]:
    names = {f"h{i}": h for i, h in enumerate(hashes)}
    with store.engine.connect() as conn:
        hits = _registrations(conn, f"{column} IN ({', '.join(':' + n for n in names)})", names)
        conn.rollback()
    return hits


def by_id_number(store: KioskStore, id_number: str) -> list[RegistrationHit]:
    """Earlier registrations of this (validated) ID number, newest first."""
    return _by_hash(store, "id_hash", person_hashes(store, "id", id_number))


def by_phone(store: KioskStore, phone: str) -> list[RegistrationHit]:
    """Earlier registrations with this (validated, 11-digit) phone, newest first."""
    return _by_hash(store, "phone_hash", person_hashes(store, "phone", phone))


def _passes(conn: Connection, where: str, params: dict[str, Any]) -> list[PassHit]:
    rows = conn.execute(
        text(
            "SELECT p.pass_id, p.kind, p.unit_code, p.name, p.valid_from, p.valid_to,"
            " r.pass_id IS NOT NULL, coalesce(r.reason, '')"
            " FROM pass_issued p LEFT JOIN revocation r ON r.pass_id = p.pass_id"
            f" WHERE {where} ORDER BY p.issued_at DESC LIMIT {RESULT_LIMIT}"
        ),
        params,
    ).all()
    return [PassHit(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7]) for r in rows]


def household(store: KioskStore, unit_code: str) -> Household:
    """A unit's passes, who of it is out now, and its list status."""
    with store.engine.connect() as conn:
        known = conn.execute(text("SELECT 1 FROM unit WHERE code = :u"), {"u": unit_code}).first() is not None
        passes = _passes(conn, "p.unit_code = :u", {"u": unit_code})
        # The last allowed passage of each pass says whether its holder is out.
        last: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT pass_id, direction FROM passage p1 WHERE unit_code = :u AND verdict = 'allow'"
                    " AND pass_id IS NOT NULL AND device_time = (SELECT max(device_time) FROM passage p2"
                    " WHERE p2.pass_id = p1.pass_id AND p2.verdict = 'allow')"
                ),
                {"u": unit_code},
            ).all()
        )
        recent = conn.execute(
            text(
                "SELECT device_time, direction, verdict FROM passage WHERE unit_code = :u"
                " ORDER BY device_time DESC LIMIT 5"
            ),
            {"u": unit_code},
        ).all()
        conn.rollback()
    state = store.gate_state()
    now = store.trusted_now()
    until = state.quarantine_units.get(unit_code, 0)
    quarantined = unit_code in state.quarantine_units and (until is None or now < until)
    return Household(
        unit_code=unit_code,
        known=known or bool(passes),
        passes=passes,
        out_now=[p for p in passes if last.get(p.pass_id) == "out"],
        quarantined=quarantined,
        watch_note=state.watch_units.get(unit_code),
        last_passages=[(r[0], r[1], r[2]) for r in recent],
    )


@dataclass
class NameResults:
    passes: list[PassHit]
    registrations: list[RegistrationHit]


def by_name(store: KioskStore, name: str) -> NameResults:
    """Passes and registrations whose name contains `name` (names are optional: may be empty)."""
    needle = name.strip()
    if not needle:
        return NameResults([], [])
    like = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with store.engine.connect() as conn:
        passes = _passes(conn, "p.name LIKE :n ESCAPE '\\'", {"n": like})
        regs = _registrations(conn, "name LIKE :n ESCAPE '\\'", {"n": like})
        conn.rollback()
    return NameResults(passes, regs)


@dataclass(frozen=True)
class LogLine:
    device_time: float
    direction: str
    unit_code: str
    verdict: str
    temp_raw: str
    reasons: tuple[str, ...]


def recent_passages(store: KioskStore, limit: int = 8) -> list[LogLine]:
    """The newest passages, newest first (the duty screen's log after a restart)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT device_time, direction, coalesce(unit_code, ''), verdict, temp_raw, reasons FROM passage"
                " ORDER BY device_time DESC LIMIT :n"
            ),
            {"n": limit},
        ).all()
        conn.rollback()
    return [LogLine(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5] or "[]"))) for r in rows]


def open_fever_cases(store: KioskStore, since: float | None = None) -> list[tuple[str, str, str, float, str]]:
    """Fever cases without an outcome yet: (case id, unit, first reading, time, direction).

    After a restart the duty desk shows these again, so a waiting person is not forgotten."""
    since = time.time() - 86400 if since is None else since
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.record_id, coalesce(c.unit_code, ''), c.first_raw, c.device_time, c.direction"
                " FROM fever_case c LEFT JOIN fever_outcome o ON o.case_id = c.record_id"
                " WHERE o.record_id IS NULL AND c.device_time >= :s ORDER BY c.device_time"
            ),
            {"s": since},
        ).all()
        conn.rollback()
    return [tuple(r) for r in rows]
