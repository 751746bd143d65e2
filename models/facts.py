"""Recording facts: each is one transaction holding the fact's row and its outbox record.

A caller shows "saved" only after these functions return: they return after COMMIT
(synchronous=FULL), so what the volunteer saw saved survives a power cut.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlmodel import SQLModel

from models import clock
from models.kinds import FEVER_OUTCOMES, REGISTRATION_KINDS
from models.outbox import Fact, append_fact
from models.tables import AuditEvent, FeverCase, FeverOutcome, Passage, Registration, ShiftEvent
from models.values import Temperature
from models.verdict import Verdict

__all__ = [
    "FEVER_OUTCOMES",
    "REGISTRATION_KINDS",
    "RegistrationInput",
    "close_fever_case",
    "open_fever_case",
    "record_audit",
    "record_override",
    "record_passage",
    "record_registration",
    "record_shift",
    "record_sign_out",
]
if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection

    from models.store import KioskStore


def _record(
    store: KioskStore,
    kind: str,
    table: type[SQLModel],
    row: dict[str, Any],
    payload_extra: dict[str, Any] | None = None,
    reading: clock.Reading | None = None,
    inside: Callable[[Connection], None] | None = None,
) -> Fact:
    """Write `row` into `table` and its outbox record in one transaction.

    `reading` is the moment to stamp; only the demo's generated traffic passes one. `inside`
    runs first in the same transaction (the change an audit record describes: both or neither)."""
    reading = reading or clock.now()
    row = {k: _clean(v) for k, v in row.items()}
    payload = {k: v for k, v in row.items() if not isinstance(v, bytes)}
    payload.update(payload_extra or {})
    versions = store.gate_state().versions
    with store.writer.begin() as conn:
        if inside is not None:
            inside(conn)
        fact = append_fact(conn, kind, payload, reading, versions)
        # The Core table with bound parameters: one cached compiled statement per table, not a new
        # ORM statement per passage (that cost ~0.5 ms of CPU per commit on the kiosk).
        # (SQLModel's types do not declare __table__, which every table=True model has.)
        conn.execute(
            insert(table.__table__),  # type: ignore[attr-defined]
            dict(row, record_id=fact.record_id, device_time=reading.wall),
        )
    store.note_hlc(fact.hlc)
    return fact


def _clean(value: Any) -> Any:
    """Drop NUL characters from text: PostgreSQL cannot store them, and a record the office
    cannot store would otherwise be retried forever. (Other control characters are refused
    by the value rules before they get here.)"""
    return value.replace("\x00", "") if isinstance(value, str) else value


def _temp(t: Temperature | None) -> dict[str, Any]:
    if t is None:
        return {"temp_raw": "", "temp_value": None}
    # LO and HI keep their raw word and no number (they are readings, not values).
    return {"temp_raw": t.raw, "temp_value": t.value if t.reading == "value" else None}


def record_passage(
    store: KioskStore,
    direction: str,
    verdict: Verdict,
    temperature: Temperature | None = None,
    volunteer_id: int | None = None,
    *,
    subject: str = "pass",
    unit_code: str | None = None,
    person_id: int | None = None,
    outcome: str | None = None,
    extra_reasons: list[str] | None = None,
    reading: clock.Reading | None = None,
    payload_extra: dict[str, Any] | None = None,
    registration_id: str | None = None,
    checks: dict[str, str] | None = None,
) -> Fact:
    """One passage. `checks`: the answers to the checks beside the pass (models/health_checks.py),
    kept in the row and the payload (the office counts them) only when some were asked."""
    if direction not in ("in", "out"):
        raise ValueError("direction must be 'in' or 'out'")
    body = verdict.body
    row = {
        "direction": direction,
        "subject": subject,
        "pass_id": body.pass_id_hex if body else None,
        "pass_kind": int(body.kind) if body else None,
        "unit_code": body.unit if body else unit_code,
        "person_id": person_id,
        "verdict": outcome or verdict.outcome,
        "reasons": json.dumps(verdict.reason_codes() + (extra_reasons or [])),
        "volunteer_id": volunteer_id,
        **_temp(temperature),
    }
    if registration_id is not None:  # only then: every other passage's record stays as it was
        row["registration_id"] = registration_id
    if checks:
        row["checks"] = json.dumps(dict(checks), sort_keys=True)
    return _record(store, "passage", Passage, row, payload_extra, reading=reading)


def record_sign_out(
    store: KioskStore,
    unit_code: str,
    *,
    registration_id: str | None = None,
    pass_id: str | None = None,
    pass_kind: int | None = None,
    volunteer_id: int | None = None,
    reading: clock.Reading | None = None,
) -> Fact:
    """The exit of a visitor picked from the list of those inside (models/inside.py): an allowed
    passage out, reason "signed_out", naming their registration or their pass. A registration
    already signed out is refused in the same transaction (two desks, or a double key press)."""
    from models.errors import KakouError

    if (registration_id is None) == (pass_id is None):
        raise ValueError("sign out a registration or a pass")

    def not_twice(conn: Connection) -> None:
        if registration_id is None:
            return
        done = conn.exec_driver_sql(
            "SELECT 1 FROM passage WHERE registration_id = ? AND direction = 'out' AND verdict = 'allow'",
            (registration_id,),
        ).first()
        if done is not None:
            raise KakouError("此人已签退", "already signed out", code="not_inside")

    row = {
        "direction": "out",
        "subject": "registration" if registration_id else "pass",
        "pass_id": pass_id,
        "pass_kind": pass_kind,
        "unit_code": unit_code or None,
        "person_id": None,
        "verdict": "allow",
        "reasons": json.dumps(["signed_out"]),
        "volunteer_id": volunteer_id,
        **_temp(None),
    }
    if registration_id is not None:
        row["registration_id"] = registration_id
    return _record(store, "passage", Passage, row, reading=reading, inside=not_twice)


@dataclass(frozen=True)
class RegistrationInput:
    kind: str
    name: str = ""
    id_number: str = ""  # full, validated; only its masked form, hash and sealed copy are stored
    phone: str = ""
    from_place: str = ""
    to_unit: str = ""
    reason: str = ""


def record_registration(
    store: KioskStore,
    reg: RegistrationInput,
    temperature: Temperature | None = None,
    volunteer_id: int | None = None,
    reading: clock.Reading | None = None,
    direction: str = "in",
) -> Fact:
    from models.privacy import protect_id, protect_phone

    if direction not in ("in", "out"):
        raise ValueError("direction must be 'in' or 'out'")
    if reg.kind not in REGISTRATION_KINDS:
        raise ValueError(f"unknown registration kind {reg.kind!r}")
    # Sealed to the office once enrolled, else to this kiosk's hand-over key (models/privacy.py).
    sealing_key = store.registration_sealing_key() if (reg.id_number or reg.phone) else None
    cost = store.lookup_cost()
    id_p = protect_id(store.lookup_key, sealing_key, reg.id_number, cost) if reg.id_number else None
    phone_p = protect_phone(store.lookup_key, sealing_key, reg.phone, cost) if reg.phone else None
    row = {
        "kind": reg.kind,
        "direction": direction,
        "name": reg.name,
        "id_masked": id_p.masked if id_p else "",
        "id_hash": id_p.hash if id_p else None,
        "phone_masked": phone_p.masked if phone_p else "",
        "phone_hash": phone_p.hash if phone_p else None,
        "from_place": reg.from_place,
        "to_unit": reg.to_unit,
        "reason": reg.reason,
        "volunteer_id": volunteer_id,
        **_temp(temperature),
    }
    sealed = {}
    if id_p and id_p.sealed:
        sealed["id_sealed"] = id_p.sealed.hex()
    if phone_p and phone_p.sealed:
        sealed["phone_sealed"] = phone_p.sealed.hex()
    return _record(store, "registration", Registration, row, sealed, reading=reading)


def open_fever_case(
    store: KioskStore,
    direction: str,
    first: Temperature,
    volunteer_id: int | None = None,
    *,
    pass_id: str | None = None,
    unit_code: str | None = None,
    registration_id: str | None = None,
    reading: clock.Reading | None = None,
) -> Fact:
    t = _temp(first)
    row = {
        "direction": direction,
        "pass_id": pass_id,
        "unit_code": unit_code,
        "registration_id": registration_id,
        "first_raw": t["temp_raw"],
        "first_value": t["temp_value"],
        "volunteer_id": volunteer_id,
    }
    return _record(store, "fever_case", FeverCase, row, reading=reading)


def close_fever_case(
    store: KioskStore,
    case_id: str,
    outcome: str,
    second: Temperature | None,
    volunteer_id: int | None = None,
    reading: clock.Reading | None = None,
) -> Fact:
    if outcome not in FEVER_OUTCOMES:
        raise ValueError(f"unknown fever outcome {outcome!r}")
    t = _temp(second)
    row = {
        "case_id": case_id,
        "second_raw": t["temp_raw"],
        "second_value": t["temp_value"],
        "outcome": outcome,
        "volunteer_id": volunteer_id,
    }
    return _record(store, "fever_outcome", FeverOutcome, row, reading=reading)


def record_shift(
    store: KioskStore, volunteer_id: int, event: str, note: str = "", summary: dict[str, Any] | None = None
) -> Fact:
    if event not in ("on", "off"):
        raise ValueError("shift event must be 'on' or 'off'")
    row = {
        "volunteer_id": volunteer_id,
        "event": event,
        "note": note,
        "summary": json.dumps(summary or {}, ensure_ascii=False, sort_keys=True),
    }
    return _record(store, "shift", ShiftEvent, row)


def record_audit(
    store: KioskStore,
    action: str,
    volunteer_id: int | None = None,
    *,
    inside: Callable[[Connection], None] | None = None,
    **detail: Any,
) -> Fact:
    """One audit record; with `inside`, the change it records is made in the same transaction
    (`inside(conn)` may raise to refuse it, and then nothing is written)."""
    row = {
        "volunteer_id": volunteer_id,
        "action": action,
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
    }
    return _record(store, "audit", AuditEvent, row, inside=inside)


def record_override(
    store: KioskStore,
    direction: str,
    verdict: Verdict | None,
    volunteer_id: int | None,
    supervisor_id: int,
    reason: str,
    *,
    unit_code: str | None = None,
    reason_code: str = "",
) -> Fact:
    """A supervisor let someone through that the rules did not (forgot the pass, a forehead that
    reads 34): the passage, allowed and marked "overridden", names the volunteer on duty and the
    supervisor, and an audit record says who, why and for which passage. Returns the passage."""
    reason = " ".join(reason.split())
    if not reason:
        from models.errors import KakouError

        raise KakouError("请写明放行原因", "give the reason for the override", code="reason")
    if verdict is None:
        from models.verdict import Verdict as _Verdict

        verdict = _Verdict("deny", ())
    override = {"supervisor_id": supervisor_id, "volunteer_id": volunteer_id, "reason": reason, "code": reason_code}
    fact = record_passage(
        store,
        direction,
        verdict,
        None,
        volunteer_id,
        subject="pass" if verdict.body is not None else "person",
        unit_code=unit_code,
        outcome="allow",
        extra_reasons=["overridden"],
        payload_extra={"override": override},
    )
    record_audit(
        store,
        "override",
        supervisor_id,
        passage=fact.record_id,
        on_duty=volunteer_id,
        reason=reason,
        code=reason_code,
        was=verdict.outcome,
        reasons=verdict.reason_codes(),
        unit=verdict.body.unit if verdict.body is not None else unit_code,
    )
    return fact
